#include <stdbool.h>
#include <stdio.h>

/* Read a whole stream into buffer as a string; false if it does not fit. */
static bool read_all(FILE *stream, char *buffer, size_t size) {
    size_t length = fread(buffer, 1, size - 1, stream);
    buffer[length] = '\0';
    return length < size - 1 || feof(stream);
}
