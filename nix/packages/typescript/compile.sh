#!/usr/bin/env bash
# /box is read-only: work on a copy in /tmp, so nothing tsc might write lands in /box.
set -e
mkdir -p /tmp/src
cp -- "$@" /tmp/src/
cd /tmp/src
# Only the main file is named; tsc follows its imports to the other files.
# --skipLibCheck: the bundled lib .d.ts files need no checking (halves the time).
# Node's types come from the environment's @types/node ($SANDKASTEN_NPM, set by the header).
# `./` keeps a main file named like an option a file name.
exec tsc --module commonjs --target es2022 --rootDir . --outDir /program --pretty false --skipLibCheck \
    --typeRoots "$SANDKASTEN_NPM/@types" --types node ./"$1"
