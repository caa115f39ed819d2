#!/usr/bin/env bash
# C or C++ by the main file's extension; `./` keeps a main file named like an option a file name.
case "$1" in
  *.c) compiler=emcc ;;
  *.cpp | *.cc | *.cxx) compiler=em++ ;;
  *)
    echo "emcc: the main file must end in .c (C) or .cpp, .cc or .cxx (C++), not: $1" >&2
    exit 1
    ;;
esac
# The request's compile_args, accepted by the daemon's emcc policy, one per line.
extra=()
if [[ -n $SANDKASTEN_COMPILE_ARGS ]]; then
  mapfile -t extra <<<"$SANDKASTEN_COMPILE_ARGS"
fi
# Variables through which Emscripten, clang or Node would take further options or files: only
# compile_args may add any (the build's env_vars are still given to the compiler otherwise).
unset "${!EM_@}" "${!EMCC_@}" "${!EMMAKEN_@}" "${!CCC_@}" "${!PYTHON@}" CPATH C_INCLUDE_PATH \
  CPLUS_INCLUDE_PATH LIBRARY_PATH COMPILER_PATH NODE_OPTIONS
# The toolchain's own prebuilt libraries, read-only (nixpkgs' wrapper would otherwise choose an
# empty cache in /tmp and rebuild libc in every job; Debian's is there already).
prefix=$(dirname "$(dirname "$(command -v emcc)")")
export EM_CACHE="$prefix/share/emscripten/cache" EM_FROZEN_CACHE=1
# Under Node.js the program gets its working directory and /tmp through NODEFS (Emscripten's
# own file system is an empty one in memory); in a browser this does nothing.
cat > /tmp/node-files.js <<'JS'
Module['preRun'] = (Module['preRun'] || []).concat([function () {
  if (typeof process === 'object' && process.versions && process.versions.node) {
    var cwd = process.cwd();
    FS.mkdirTree(cwd);
    FS.mount(NODEFS, { root: cwd }, cwd);
    FS.mount(NODEFS, { root: '/tmp' }, '/tmp');
    FS.chdir(cwd);
  }
}]);
JS
exec "$compiler" -O2 -sENVIRONMENT=web,node -sEXIT_RUNTIME=1 -sFORCE_FILESYSTEM=1 -lnodefs.js \
  --pre-js /tmp/node-files.js "${extra[@]}" -o /program/app.js ./"$1"
