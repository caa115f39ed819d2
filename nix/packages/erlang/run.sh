#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments.
# The modules compiled from the other files are found on the code path.
ERL_FLAGS="-pa /program" exec escript /program/"$@"
