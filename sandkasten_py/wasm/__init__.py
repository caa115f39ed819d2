"""WebAssembly: running WASI modules with wasmtime, in jailed workers (never in the daemon)."""
