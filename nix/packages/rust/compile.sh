#!/usr/bin/env bash
# rustc finds the other source files itself through `mod` declarations.
rustc --edition=2021 -O -o /program/binary "$1"
