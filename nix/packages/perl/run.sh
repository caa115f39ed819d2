#!/usr/bin/env bash
# -I/program: the program's own modules (Foo.pm) are found by `use Foo;`.
exec perl -I/program /program/"$@"
