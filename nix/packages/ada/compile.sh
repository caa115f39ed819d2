#!/usr/bin/env bash
# gnatmake writes .ali and object files, and /box is read-only: the sources are
# built from a copy in /tmp, the objects go to /tmp/objects.
set -e
mkdir -p /tmp/src /tmp/objects
cp -- "$@" /tmp/src/
cd /tmp/src
# `./` keeps a main file named like an option a file name.
exec gnatmake -q -O2 -D /tmp/objects -o /program/binary ./"$1"
