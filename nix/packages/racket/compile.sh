#!/usr/bin/env bash
# $1 is the main file, the rest are further files. raco make writes the
# compiled modules next to the sources, so they are compiled in /program.
set -e
cp -- "$@" /program/
raco make -- /program/"$1"
