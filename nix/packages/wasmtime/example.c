#include <stdio.h>
#include <string.h>

int main(void) {
    char name[256];
    if (fgets(name, sizeof name, stdin) == NULL) {
        name[0] = '\0';
    }
    name[strcspn(name, "\n")] = '\0';
    printf("Hello, %s!\n", name);
    return 0;
}
