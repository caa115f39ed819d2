"""A program's build output as downloadable files: listed with size, sha256 and content type,
and opened one at a time, never following a link.

The files are what the compile step left in `/program` (for environments without one, the
sources), copied into the store within its caps: regular files and directories only. A name is
the file's path below that directory, `/`-separated (`app.js`, `assets/logo.png`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath

from sandkasten_py import safefs

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a fifo must not block
CHUNK = 1 << 20
MAX_DEPTH = 32  # the store's `program_depth` is at most this deep by default
MAX_NAME_BYTES = 4096

# Browsers insist on application/wasm for streaming compilation, and on a JavaScript type for
# scripts; everything else is served as bytes.
CONTENT_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Artifact:
    """One file of a program's build output."""

    name: str
    size: int
    sha256: str
    content_type: str


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), DEFAULT_CONTENT_TYPE)


def list_artifacts(directory: str) -> list[Artifact]:
    """Every regular file below `directory`, by name (blocking: hashes every byte)."""
    found = []
    for entry in safefs.walk(directory, MAX_DEPTH):
        if stat.S_ISREG(entry.info.st_mode):
            fd = os.open(entry.name, _FILE_FLAGS, dir_fd=entry.dir_fd)
            try:
                found.append(Artifact(entry.path, entry.info.st_size, _sha256(fd), content_type(entry.path)))
            finally:
                os.close(fd)
    return sorted(found, key=lambda artifact: artifact.name)


def open_artifact(directory: str, name: str) -> int:
    """A read-only descriptor of the regular file `name` below `directory`; FileNotFoundError if
    there is none (a bad name, a missing file, a link or anything but a regular file)."""
    parts = name.split("/")
    if (not name or len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES or "\0" in name
            or len(parts) > MAX_DEPTH or any(part in ("", ".", "..") for part in parts)):
        raise FileNotFoundError(name)
    dir_fd = os.open(directory, safefs.DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, safefs.DIR_FLAGS, dir_fd=dir_fd)
            except OSError as e:  # ELOOP for a link, ENOTDIR, ENOENT
                raise FileNotFoundError(name) from e
            os.close(dir_fd)
            dir_fd = inner
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            raise FileNotFoundError(name) from e
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FileNotFoundError(name)
    os.set_blocking(fd, True)
    return fd


def _sha256(fd: int) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
