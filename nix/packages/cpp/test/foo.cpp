#include <fstream>
#include <istream>
#include <iterator>
#include <optional>
#include <string>

// The whole remaining content of a stream.
std::string read_stream(std::istream &stream) {
    return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

// The content of a file, or nothing if it cannot be opened.
std::optional<std::string> read_file(const std::string &path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return std::nullopt;
    }
    return read_stream(file);
}
