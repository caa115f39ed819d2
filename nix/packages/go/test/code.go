package main

import (
	"fmt"
	"os"
)

func main() {
	// readStdin and readFile are defined in foo.go.
	if text, ok := readStdin(); !ok || text != "stdin" {
		os.Exit(1)
	}
	args := os.Args[1:]
	if len(args) != 3 {
		os.Exit(2)
	}
	for i, want := range []string{"foo", "bar", "baz"} {
		if args[i] != want {
			os.Exit(3 + i)
		}
	}
	if text, ok := readFile("test.txt"); !ok || text != "hello world" {
		os.Exit(6)
	}
	fmt.Println("OK")
}
