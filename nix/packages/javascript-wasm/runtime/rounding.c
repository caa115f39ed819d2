/* Directed rounding for QuickJS's number formatting, where WebAssembly has none.
 *
 * QuickJS formats numbers with snprintf and, to round ties away from zero as JavaScript wants
 * ((2.5).toFixed(0) is "3"), prints a second time with fesetround(FE_UPWARD or FE_DOWNWARD).
 * WebAssembly has only round-to-nearest: WASI's fenv.h has no FE_UPWARD, and a fesetround that
 * does nothing makes every printed '5' look like an exact tie ((1.005).toFixed(2) would be
 * "1.01"; it is "1.00"). quickjs.c is compiled with fesetround and snprintf renamed to the two
 * functions below: in a directed mode, the number is printed exactly (wasi-libc's printf gives
 * every digit of a double) and rounded by hand, toward or away from zero.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SANDKASTEN_ROUNDING_C
#include "rounding.h"

static int mode = SANDKASTEN_FE_TONEAREST;

int sandkasten_fesetround(int rounding_mode) {
    mode = rounding_mode;
    return 0;
}

/* Adds one to the decimal digits[0..count); returns 1 when it carries out of the first. */
static int increment(char *digits, int count) {
    for (int i = count - 1; i >= 0; i--) {
        if (digits[i] != '9') {
            digits[i]++;
            return 0;
        }
        digits[i] = '0';
    }
    return 1;
}

/* "%.*f" (fixed) or "%+.*e" (exponent) of d with `precision` digits, rounded in `mode`. */
static int directed(char *out, size_t size, int exponent_form, int precision, double d) {
    /* A double has at most 767 significant decimal digits and 1074 after the point. */
    static char exact[1600], digits[1600];
    if (exponent_form)
        snprintf(exact, sizeof exact, "%+.*e", 800, d);
    else
        snprintf(exact, sizeof exact, "%.*f", 1100, d);
    const char *p = exact;
    char sign = 0;
    if (*p == '-' || *p == '+')
        sign = *p++;
    int count = 0, int_length = 0, exponent = 0;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.')
            int_length = count;
        else
            digits[count++] = *p;
    }
    if (*p == 'e')
        exponent = atoi(p + 1);
    if (exponent_form)
        int_length = 1;
    int keep = int_length + precision;
    int negative = sign == '-';
    int away = (mode == SANDKASTEN_FE_UPWARD && !negative) || (mode == SANDKASTEN_FE_DOWNWARD && negative);
    int inexact = 0;
    for (int i = keep; i < count; i++)
        inexact |= digits[i] != '0';
    if (away && inexact && increment(digits, keep)) {
        memmove(digits + 1, digits, keep);
        digits[0] = '1';
        if (exponent_form)
            exponent++; /* 9.99e+1 -> 1.00e+2: the same number of digits */
        else
            int_length++, keep++;
    }
    char text[1600];
    int n = 0;
    if (exponent_form || negative)
        text[n++] = exponent_form ? sign : '-';
    memcpy(text + n, digits, int_length);
    n += int_length;
    if (precision > 0) {
        text[n++] = '.';
        memcpy(text + n, digits + int_length, precision);
        n += precision;
    }
    text[n] = '\0';
    if (exponent_form)
        n += sprintf(text + n, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    return snprintf(out, size, "%s", text);
}

int sandkasten_snprintf(char *out, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int n;
    int fixed = strcmp(format, "%.*f") == 0, exponent_form = strcmp(format, "%+.*e") == 0;
    if (mode != SANDKASTEN_FE_TONEAREST && (fixed || exponent_form)) {
        int precision = va_arg(args, int);
        double d = va_arg(args, double);
        n = directed(out, size, exponent_form, precision, d);
    } else {
        n = vsnprintf(out, size, format, args);
    }
    va_end(args);
    return n;
}
