#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments (Rscript gives
# everything after the file to commandArgs(trailingOnly = TRUE)).
exec Rscript /program/"$@"
