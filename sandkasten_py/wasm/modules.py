"""Compiled WebAssembly modules on disk, so that a module is compiled once, not once per worker
and again after every restart.

A compiled (serialized) module is native code that a worker loads as it is: loading bytes that
someone else put there would run their code. So the daemon only loads files it wrote itself:
each file starts with an HMAC-SHA256 tag, under the program store's secret key, of the entry's
name and the bytes; a file without the right tag (forged, truncated, from another store or
engine) is deleted and the module compiled again. The name covers the module's SHA-256 and
what compiled code depends on (the wasmtime version and the engine's settings), so an upgrade
or a changed setting never finds an old entry. The directory is the daemon's alone (mode 0700,
in the store's `.cache`); jobs never see it. Its size is kept under `max_bytes` by deleting the
least recently used files.

Everything here blocks (file I/O): callers run it in a thread.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from sandkasten_py import safefs

log = logging.getLogger(__name__)

TAG_BYTES = 32
_DOMAIN = b"sandkasten-py compiled wasm module\0"  # the tag is for this use of the key only


class ModuleCache:
    """The compiled modules in `directory`, tagged with `key`, up to `max_bytes`."""

    def __init__(self, directory: str, key: bytes, max_bytes: int) -> None:
        self.directory = directory
        self.key = key
        self.max_bytes = max_bytes

    @staticmethod
    def name(module_key: bytes, engine: str) -> str:
        """The entry of a module (`module_key`: its SHA-256) for an engine (`Ready.engine`)."""
        return hashlib.sha256(module_key + b"\0" + engine.encode()).hexdigest()

    def load(self, name: str) -> bytes | None:
        """The compiled module of entry `name`, or None: none, or one this daemon did not write
        (which is deleted)."""
        try:
            data = safefs.read_file(self.directory, name)
        except FileNotFoundError:
            return None
        tag, compiled = data[:TAG_BYTES], data[TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(name, compiled)):
            log.warning("compiled module %s in %s has no valid tag: deleted, not loaded", name, self.directory)
            self._remove(name)
            return None
        os.utime(os.path.join(self.directory, name))  # recently used: kept longest
        return compiled

    def save(self, name: str, compiled: bytes) -> None:
        """Keep `compiled` as entry `name`, then delete the least recently used entries past
        `max_bytes` (nothing is kept when it alone is larger)."""
        if TAG_BYTES + len(compiled) > self.max_bytes:
            return
        safefs.replace_file(self.directory, name, self._tag(name, compiled) + compiled)
        self._trim()

    def _tag(self, name: str, compiled: bytes) -> bytes:
        return hmac.new(self.key, _DOMAIN + name.encode() + b"\0" + compiled, hashlib.sha256).digest()

    def _trim(self) -> None:
        entries = []
        with os.scandir(self.directory) as listing:
            for entry in listing:
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    entries.append((info.st_mtime_ns, info.st_size, entry.name))
        total = sum(size for _, size, _ in entries)
        for _, size, name in sorted(entries):  # oldest use first
            if total <= self.max_bytes:
                break
            self._remove(name)
            total -= size

    def _remove(self, name: str) -> None:
        try:
            os.unlink(os.path.join(self.directory, name))
        except FileNotFoundError:
            pass
