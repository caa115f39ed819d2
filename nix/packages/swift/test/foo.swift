#if canImport(Glibc)
import Glibc
#endif

/// All of standard input as a string.
func readStdin() -> String {
    var text = ""
    while let line = readLine(strippingNewline: false) {
        text += line
    }
    return text
}

/// The content of a file as a string, or nil if it cannot be opened.
func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else {
        return nil
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 {
            break
        }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
