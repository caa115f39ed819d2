# QuickJS, compiled to a WASI command module with the runtime in runtime/, into $out/quickjs.wasm.
# The working directory holds the [[build.sources]] archives; $SANDKASTEN_PACKAGE is this folder.
tar -xzf quickjs-1.19.4.tar.gz
sources=quickjs-1.19.4/upstream-quickjs
runtime="$SANDKASTEN_PACKAGE/runtime"
if command -v wasm32-unknown-wasi-clang >/dev/null; then  # Nix's cross toolchain
  cc=(wasm32-unknown-wasi-clang)
else  # Debian's clang, with wasi-libc and the wasm32 runtime libraries
  cc=(clang-14 --target=wasm32-wasi)
fi
# EMSCRIPTEN: QuickJS's switch for targets without threads (no Atomics) and without computed
# gotos; the stack check stays on (QuickJS throws before the wasm stack runs out).
flags=(-O2 -DEMSCRIPTEN -DCONFIG_STACK_CHECK -DCONFIG_BIGNUM "-DCONFIG_VERSION=\"$(cat "$sources/VERSION")\"")
pids=()
for unit in quickjs libregexp libunicode cutils libbf; do
  # rounding.h: directed rounding for number formatting, which WebAssembly lacks (rounding.c).
  "${cc[@]}" "${flags[@]}" -I"$sources" -include "$runtime/rounding.h" -c "$sources/$unit.c" -o "$unit.o" &
  pids+=($!)
done
"${cc[@]}" "${flags[@]}" -I"$sources" -I"$runtime" -c "$runtime/main.c" -o main.o
"${cc[@]}" "${flags[@]}" -I"$runtime" -c "$runtime/rounding.c" -o rounding.o
for pid in "${pids[@]}"; do
  wait "$pid"
done
# A 1 MiB stack in linear memory (see main.c, JS_STACK_BYTES). $out is the builders' own.
# shellcheck disable=SC2154
"${cc[@]}" -O2 -s -Wl,-z,stack-size=1048576 -o "$out/quickjs.wasm" ./*.o
