#!/usr/bin/env bash
# All C# files of the request (the main file first) make one program. Each name gets
# `./`: mcs would read `-x.cs` or `/x.cs` as an option.
sources=(./"$1")
shift
for file in "$@"; do
    if [[ $file == *.cs ]]; then
        sources+=(./"$file")
    fi
done
exec mcs -nologo -optimize+ -out:/program/program.exe "${sources[@]}"
