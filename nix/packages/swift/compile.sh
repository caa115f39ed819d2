#!/usr/bin/env bash
# $1 is the main file, the rest are further files. swiftc accepts top-level
# statements in a program of several files only in main.swift, so the sources
# are copied to /tmp with the main file renamed (/box is read-only anyway).
set -e
src=/tmp/swift-sources
mkdir -p "$src"
cp -- ./"$1" "$src/main.swift"
shift
for file in "$@"; do
    if [[ $file == main.swift ]]; then
        echo "main.swift is the name of the main file; rename the other file" >&2
        exit 1
    fi
    if [[ $file == *.swift ]]; then
        cp -- ./"$file" "$src/"
    fi
done
cd "$src"
swiftc -O -module-cache-path /tmp/module-cache -o /program/binary ./*.swift
