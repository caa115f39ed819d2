#!/usr/bin/env bash
# Every D file of the request is compiled and linked; `import` finds modules in /box.
# Each name gets `./`, so a name like an option stays a file.
sources=(./"$1")
for file in "${@:2}"; do
    if [[ $file == *.d ]]; then
        sources+=(./"$file")
    fi
done
exec gdc -O2 -I. -o /program/binary "${sources[@]}"
