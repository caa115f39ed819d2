#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments (everything after
# the script is left to the program). The heap (dynamic space) gets three
# quarters of the job's memory, so a program that uses too much stops with
# SBCL's "heap exhausted" report instead of being killed.
heap=$(( ${SANDKASTEN_MEMORY_MB:-1024} * 3 / 4 ))
(( heap >= 64 )) || heap=64
exec sbcl --dynamic-space-size "${heap}MB" --script /program/"$@"
