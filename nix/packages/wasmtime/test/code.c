#include <stdio.h>
#include <string.h>

#include "foo.c"

int main(int argc, char **argv) {
    char buffer[64];

    if (!read_all(stdin, buffer, sizeof buffer) || strcmp(buffer, "stdin") != 0) {
        return 1;
    }
    if (argc != 4) {
        return 2;
    }
    const char *expected[] = {"foo", "bar", "baz"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(argv[i + 1], expected[i]) != 0) {
            return 3 + i;
        }
    }
    FILE *file = fopen("test.txt", "r");
    if (file == NULL || !read_all(file, buffer, sizeof buffer) ||
        strcmp(buffer, "hello world") != 0) {
        return 6;
    }
    fclose(file);
    puts("OK");
    return 0;
}
