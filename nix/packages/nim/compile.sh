#!/usr/bin/env bash
# The generated C code goes to /tmp (/box is read-only); `import` finds the other
# modules next to the main file. `./` keeps a main file named like an option a file.
exec nim compile --nimcache:/tmp/nimcache -d:release --hints:off \
    --out:/program/binary ./"$1"
