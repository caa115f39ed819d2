#!/usr/bin/env bash
# tsc wrote /program/<main file without .ts>.js; the rest are the program's arguments.
main=/program/$(basename -- "$1" .ts).js
shift
exec node "$main" "$@"
