#!/usr/bin/env bash
# `./` keeps a main file named like an option (`-v`, `-B.`) a file name.
# Only the main file is compiled; further sources come in through #include.
gcc -std=c17 -O2 -o /program/binary ./"$1"
