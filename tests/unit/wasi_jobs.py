"""Jobs for the WASI worker and pool tests: a module from WebAssembly text, default limits."""

from __future__ import annotations

import hashlib

import wasmtime

from sandkasten_py.wasm.protocol import Job

LOOP = '(module (func (export "_start") (loop br 0)))'


def job(wat: str, **changes: object) -> Job:
    """A job running `wat`, with generous limits unless `changes` set them."""
    module = bytes(wasmtime.wat2wasm(wat))
    fields: dict[str, object] = {
        "module": module, "module_key": hashlib.sha256(module).digest(), "compiled": b"", "files": [], "program_files": [], "args": [], "env": [], "stdin": b"",
        "time_s": 5.0, "memory_bytes": 64_000_000, "fuel": 10**10, "stdout_max": 65536, "stderr_max": 65536,
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]
