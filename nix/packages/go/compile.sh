#!/usr/bin/env bash
# All Go files of the request form one `package main`: the main file (as `./`, so a
# name like an option stays a file) and every other file ending in `.go`.
sources=(./"$1")
shift
for file in "$@"; do
    if [[ $file == *.go ]]; then
        sources+=(./"$file")
    fi
done
exec go build -o /program/binary "${sources[@]}"
