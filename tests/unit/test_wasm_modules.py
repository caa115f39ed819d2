"""The compiled-module cache on disk (sandkasten_py.wasm.modules): only entries this daemon
wrote, under its key, for this module and engine, are ever handed out; forged ones are deleted;
the size stays within its bound. Plain files: no root, no wasmtime."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sandkasten_py.wasm.modules import TAG_BYTES, ModuleCache

KEY = bytes(range(32))
MODULE_KEY = hashlib.sha256(b"a module").digest()
ENGINE = "wasmtime 50.0.1; consume_fuel"


def test_an_entry_comes_back_as_written(tmp_path: Path) -> None:
    cache = ModuleCache(str(tmp_path), KEY, 10_000)
    name = cache.name(MODULE_KEY, ENGINE)
    assert cache.load(name) is None
    cache.save(name, b"compiled code")
    assert cache.load(name) == b"compiled code"
    # Another engine or another module is another entry.
    assert cache.name(MODULE_KEY, ENGINE + ", another setting") != name
    assert cache.name(hashlib.sha256(b"another").digest(), ENGINE) != name


def test_an_entry_this_daemon_did_not_write_is_deleted_not_loaded(tmp_path: Path) -> None:
    cache = ModuleCache(str(tmp_path), KEY, 10_000)
    name = cache.name(MODULE_KEY, ENGINE)
    cache.save(name, b"compiled code")
    entry = tmp_path / name
    written = entry.read_bytes()
    forgeries = {
        "no tag": b"native code of someone else",
        "a changed byte": written[:-1] + bytes([written[-1] ^ 1]),
        "a tag of another key": ModuleCache(str(tmp_path / "x"), bytes(32), 0)._tag(name, b"evil") + b"evil",
        "another entry's bytes": written[:TAG_BYTES] + b"compiled code, longer",
        "truncated": written[:TAG_BYTES - 1],
    }
    for why, content in forgeries.items():
        entry.write_bytes(content)
        assert cache.load(name) is None, why
        assert not entry.exists(), why
    # An entry moved to another name (another module's) does not pass either.
    cache.save(name, b"compiled code")
    other = cache.name(hashlib.sha256(b"another").digest(), ENGINE)
    os.rename(entry, tmp_path / other)
    assert cache.load(other) is None


def test_the_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    cache = ModuleCache(str(tmp_path), KEY, 3 * (TAG_BYTES + 100))
    names = [cache.name(hashlib.sha256(bytes([i])).digest(), ENGINE) for i in range(4)]
    for age, name in enumerate(names[:3]):
        cache.save(name, bytes(100))
        os.utime(tmp_path / name, ns=(age * 10**9, age * 10**9))
    assert cache.load(names[0]) is not None  # used now: the newest
    cache.save(names[3], bytes(100))
    assert sorted(os.listdir(tmp_path)) == sorted([names[0], names[2], names[3]])
    # One larger than the whole cache is not kept.
    cache.save(names[1], bytes(4 * 100))
    assert names[1] not in os.listdir(tmp_path)
