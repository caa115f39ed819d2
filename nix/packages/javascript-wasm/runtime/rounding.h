/* See rounding.c. quickjs.c is compiled with -include rounding.h. */
#ifndef SANDKASTEN_ROUNDING_H
#define SANDKASTEN_ROUNDING_H
#include <stddef.h>
#include <stdio.h>
#include <fenv.h>

#define SANDKASTEN_FE_TONEAREST 0
#define SANDKASTEN_FE_DOWNWARD 0x400
#define SANDKASTEN_FE_UPWARD 0x800

int sandkasten_fesetround(int rounding_mode);
int sandkasten_snprintf(char *out, size_t size, const char *format, ...);

#ifndef SANDKASTEN_ROUNDING_C
#ifndef FE_DOWNWARD
#define FE_DOWNWARD SANDKASTEN_FE_DOWNWARD
#define FE_UPWARD SANDKASTEN_FE_UPWARD
#endif
#define fesetround sandkasten_fesetround
#define snprintf sandkasten_snprintf
#endif
#endif
