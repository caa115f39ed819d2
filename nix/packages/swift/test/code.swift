// Conformance program: readStdin and readFile come from foo.swift.
#if canImport(Glibc)
import Glibc
#endif

func check(_ passed: Bool, _ exitCode: Int32) {
    if !passed {
        exit(exitCode)
    }
}

check(readStdin() == "stdin", 1)

let args = Array(CommandLine.arguments.dropFirst())
check(args.count == 3, 2)
for (index, wanted) in ["foo", "bar", "baz"].enumerated() {
    check(args[index] == wanted, Int32(3 + index))
}

check(readFile("test.txt") == "hello world", 6)

print("OK")
