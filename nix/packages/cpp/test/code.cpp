#include <iostream>
#include <string>
#include <vector>

#include "foo.cpp"

int main(int argc, char **argv) {
    if (read_stream(std::cin) != "stdin") {
        return 1;
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() != 3) {
        return 2;
    }
    const std::vector<std::string> expected{"foo", "bar", "baz"};
    for (std::size_t i = 0; i < expected.size(); i++) {
        if (args[i] != expected[i]) {
            return 3 + static_cast<int>(i);
        }
    }
    if (read_file("test.txt") != "hello world") {
        return 6;
    }
    std::cout << "OK" << std::endl;
    return 0;
}
