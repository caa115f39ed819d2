#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments. --no-format: the
# interpreter would otherwise rewrite the (read-only) source file first.
exec uiua run --no-format /program/"$@"
