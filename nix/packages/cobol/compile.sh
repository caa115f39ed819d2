#!/usr/bin/env bash
# cobc goes through C; its temporary files go to /tmp (/box is read-only). The main
# file is first, so its program is the entry point; every other COBOL source is
# compiled and linked with it. Each name gets `./`, so a name like an option stays a file.
sources=(./"$1")
for file in "${@:2}"; do
    case $file in
        *.cob|*.cbl|*.COB|*.CBL|*.cobol) sources+=(./"$file") ;;
    esac
done
export TMPDIR=/tmp
exec cobc -x -O -o /program/binary "${sources[@]}"
