#!/usr/bin/env bash
# fpc writes unit (.ppu/.o) and linker files next to the sources and /box is
# read-only, so the sources are built from a copy in /tmp.
set -e
mkdir -p /tmp/src /tmp/units
cp -- "$@" /tmp/src/
cd /tmp/src
# -FU: compiled units go to /tmp/units. `./` keeps a main file named like an option a file.
exec fpc -O2 -l- -v0 -FU/tmp/units -o/program/binary ./"$1"
