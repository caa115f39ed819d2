#!/usr/bin/env bash
# $1 is the main file name, which a compiled program does not need.
shift
exec /program/binary "$@"
