"""Program ids: a UUID made of the first 16 bytes of a SHA-256 over everything that changes a build.

The hashed tuple follows Sandkasten (environment name, version, script paths, closure path, server
version, then the main file as sent, the files and the build env vars), serialised the way
Rust's postcard does (length-prefixed strings, option tags, length-prefixed lists), so it is
unambiguous. One field is ours: the environment's identity digest, which covers the contents
of its manifest and scripts, so that editing a script in place (a host build) changes the id.
A build's `compile_args` and the files' `encoding` (ours) are appended only when they are used, so every other build
keeps the id it would have without them. Compile limits and anything about the run step are not
part of the id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from sandkasten_py.environments import Environment
from sandkasten_py.schemas import BuildRequest


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(value: str) -> bytes:
    data = value.encode()
    return _varint(len(data)) + data


def _option(value: str | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + _string(value)


def _pairs(pairs: Iterable[tuple[str, str]]) -> bytes:
    items = list(pairs)
    return _varint(len(items)) + b"".join(_string(a) + _string(b) for a, b in items)


def request_size(request: BuildRequest) -> int:
    """About how many bytes `program_id` hashes for `request` (to decide where to hash them)."""
    files = request.files or ()
    return len(request.main_file.content) + sum(len(f.name) + len(f.content) for f in files)


def program_id(environment: Environment, request: BuildRequest) -> uuid.UUID:
    """The id of the program `request` builds in `environment`."""
    manifest = environment.manifest
    encoded = b"".join([
        _string(manifest.name),
        _string(manifest.version),
        _option(manifest.compile_script),
        _string(manifest.run_script),
        _string(manifest.closure),
        _string(manifest.sandkasten_version),
        _string(environment.identity),
        _option(request.main_file.name),
        _string(request.main_file.content),
        _pairs((f.name, f.content) for f in request.files or ()),
        _pairs((v.name, v.value) for v in request.env_vars or ()),
    ])
    # Ours, each a tagged, self-delimiting section present only when used, so that the ids of
    # every other build stay Sandkasten's.
    if request.compile_args:
        encoded += b"\x01" + _varint(len(request.compile_args)) + b"".join(map(_string, request.compile_args))
    encodings = [request.main_file.encoding, *(f.encoding for f in request.files or ())]
    if "base64" in encodings:  # the same text as base64 or as text is another file
        encoded += b"\x02" + _varint(len(encodings)) + bytes(e == "base64" for e in encodings)
    return uuid.UUID(bytes=hashlib.sha256(encoded).digest()[:16])
