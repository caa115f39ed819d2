#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments.
exec php /program/"$@"
