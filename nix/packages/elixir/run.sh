#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments (elixir passes
# everything after the script to it as System.argv()).
exec elixir /program/"$@"
