# The main file by its extension: WebAssembly text, a binary module (sent with encoding
# "base64"), or C or C++ compiled to wasm32-wasi. The module goes to /program/main.wasm, which
# the wasmtime runner runs. `./` keeps a main file named like an option a file name.
if command -v wasm32-unknown-wasi-clang >/dev/null; then  # Nix's cross toolchain
  cc=(wasm32-unknown-wasi-clang) cxx=(wasm32-unknown-wasi-clang++)
else  # Debian's clang, with wasi-libc and the wasm32 runtime libraries
  cc=(clang-14 --target=wasm32-wasi) cxx=(clang++-14 --target=wasm32-wasi)
fi
case "$1" in
  *.wat) exec wat2wasm --output=/program/main.wasm ./"$1" ;;
  *.wasm)  # refused here, with wabt's reason, rather than at every run
    wasm-validate ./"$1" && exec cp ./"$1" /program/main.wasm ;;
  *.c) exec "${cc[@]}" -std=c17 -O2 -s -o /program/main.wasm ./"$1" ;;
  *.cpp | *.cc | *.cxx) exec "${cxx[@]}" -std=c++20 -O2 -fno-exceptions -s -o /program/main.wasm ./"$1" ;;
  *)
    echo "wasmtime: the main file must end in .wat, .wasm, .c, .cpp, .cc or .cxx, not: $1" >&2
    exit 1
    ;;
esac
