#!/usr/bin/env bash
# $1 is the main file name, which the built program does not need. Node's fetch cannot load
# app.wasm from a path: without it, app.js reads the file.
shift
exec node --no-experimental-fetch /program/app.js "$@"
