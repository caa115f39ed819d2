#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments. Nothing can be
# written outside /tmp, so Guile interprets the sources instead of caching
# compiled copies; /program is on the load path for (use-modules (foo)).
exec guile --no-auto-compile -L /program /program/"$@"
