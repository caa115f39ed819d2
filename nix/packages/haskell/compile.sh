#!/usr/bin/env bash
# GHC writes interface and object files next to the sources and /box is read-only,
# so the sources are built from a copy in /tmp.
set -e
mkdir -p /tmp/src
cp -- "$@" /tmp/src/
cd /tmp/src
# `-package-env -` ignores stray environment files; `./` keeps a main file named
# like an option a file name. --make finds imported modules in this folder.
ghc -package-env - -O -outputdir /tmp/build -o /program/binary --make ./"$1"
