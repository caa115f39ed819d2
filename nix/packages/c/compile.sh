#!/usr/bin/env bash
# Only the main file is compiled; further sources come in through #include.
gcc -std=c17 -O2 -o /program/binary "$1"
