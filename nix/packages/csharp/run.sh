#!/usr/bin/env bash
# $1 is the main file name, which the built program does not need. Mono's build is program.exe,
# the .NET SDK's program.dll (see compile.sh).
shift
if [[ -e /program/program.exe ]]; then
    exec mono /program/program.exe "$@"
fi
exec dotnet /program/program.dll "$@"
