#!/usr/bin/env bash
# Every D file of the request is compiled and linked; `import` finds modules in /box.
# Each name gets `./`, so a name like an option stays a file. ldc2 writes its object files
# next to the output unless told otherwise: /tmp keeps them out of the program.
sources=(./"$1")
for file in "${@:2}"; do
    if [[ $file == *.d ]]; then
        sources+=(./"$file")
    fi
done
# ldc2 links through a C compiler; `cc` is an alternatives link the environment does not have.
exec ldc2 -O2 -I. -gcc=gcc -od=/tmp/objects -of=/program/binary "${sources[@]}"
