# The program is JavaScript for the QuickJS runtime that build.sh made: that runtime becomes the
# module the wasmtime runner runs (/program/main.wasm, the same bytes for every program, so it
# is compiled once), the main file /program/main.js, and the other files sit next to it (for
# require("./name")). `--` and `./` keep file names that look like options file names.
cp -- "$SANDKASTEN_BUILT/quickjs.wasm" /program/main.wasm
cp -- ./"$1" /program/main.js
shift
for file in "$@"; do
  if [[ $file == main.js || $file == main.wasm ]]; then
    echo "javascript-wasm: a file may not be named $file (the runtime's own names)" >&2
    exit 1
  fi
  cp -- ./"$file" /program/"$file"
done
