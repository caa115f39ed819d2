#!/usr/bin/env bash
# Only the main file is compiled; further sources come in through #include.
g++ -std=c++20 -O2 -o /program/binary "$1"
