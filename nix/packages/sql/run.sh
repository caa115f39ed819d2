#!/usr/bin/env bash
# The script is fed to the sqlite3 shell on stdin; results come out as JSON.
# From /program, `.read other.sql` finds the program's other files.
cd /program || exit 1
exec sqlite3 -json :memory: < "$1"
