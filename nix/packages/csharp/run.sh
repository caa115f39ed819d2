#!/usr/bin/env bash
# $1 is the main file name, which the built program does not need.
shift
exec mono /program/program.exe "$@"
