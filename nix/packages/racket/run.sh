#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments: racket requires
# the file (and its main submodule) and hands everything after it to the program.
exec racket /program/"$@"
