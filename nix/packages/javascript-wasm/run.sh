# Not run: the wasmtime runner runs /program/main.wasm (QuickJS) itself, in a warm WASI worker
# (sandkasten_py/wasm/runner.py); every environment has a run script, so this one says so.
echo "javascript-wasm: this environment's programs run under the wasmtime runner, not as a script" >&2
exit 1
