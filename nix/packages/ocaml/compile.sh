#!/usr/bin/env bash
# ocamlopt writes .cmi/.cmx/.o files next to the sources and /box is read-only, so
# the sources are built from a copy in /tmp.
set -e
mkdir -p /tmp/src
cp -- "$@" /tmp/src/
cd /tmp/src
# Link order matters in OCaml: a module must come after the modules it uses.
# ocamldep sorts the files (interfaces before their implementations).
sources=(./"$1")
for file in "${@:2}"; do
    if [[ $file == *.ml || $file == *.mli ]]; then
        sources+=(./"$file")
    fi
done
read -r -a sorted <<< "$(ocamldep -sort "${sources[@]}")"
exec ocamlopt -o /program/binary "${sorted[@]}"
