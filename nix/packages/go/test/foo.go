package main

import (
	"io"
	"os"
)

// readStdin returns everything on standard input, or ok == false on a read error.
func readStdin() (text string, ok bool) {
	data, err := io.ReadAll(os.Stdin)
	return string(data), err == nil
}

// readFile returns the content of a file, or ok == false if it cannot be read.
func readFile(path string) (text string, ok bool) {
	data, err := os.ReadFile(path)
	return string(data), err == nil
}
