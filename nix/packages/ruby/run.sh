#!/usr/bin/env bash
# -I/program: `require "foo"` finds the program's own files.
exec ruby -I/program /program/"$@"
