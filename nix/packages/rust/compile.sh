#!/usr/bin/env bash
# `./` keeps a main file named like an option (`-v`, `-B.`) a file name.
# rustc finds the other source files itself through `mod` declarations.
rustc --edition=2021 -O -o /program/binary ./"$1"
