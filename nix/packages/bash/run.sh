#!/usr/bin/env bash
# Debian ships yq's XML front end as `xq-python`; offer it under its usual name
# (exported, so the program's own bash sees it). Elsewhere `xq` exists already.
if ! command -v xq > /dev/null && command -v xq-python > /dev/null; then
    xq() { xq-python "$@"; }
    export -f xq
fi
# The program's own folder goes first on PATH, so its files can be called by name.
PATH="/program:$PATH" exec bash /program/"$@"
