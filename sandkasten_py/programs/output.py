"""Copying a compile step's output into the program store, within caps.

A compile step is untrusted code (build env vars such as `BASH_ENV`, Nim's `staticExec` and
Template Haskell all run the user's code in it), so what it leaves in `/program` is treated like
any other job output: the copy takes regular files and directories only, never follows a link,
stops at caps on total bytes, entries and depth, and normalizes modes (directories 0755, files
0755 or 0644 by whether any execute bit was set: no setuid, setgid or sticky bits, nothing
writable by others). The copies belong to the daemon; run steps mount them read-only.

Runs in a thread: it walks with directory descriptors, one pair per level, so the depth cap
also bounds the descriptors it holds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from sandkasten_py import safefs
from sandkasten_py.sandbox import MB

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class OutputCaps:
    """What one build may store: bytes in all (apparent sizes, so sparse files count in full),
    files and directories, and directory levels below the top."""

    max_bytes: int
    max_entries: int
    max_depth: int


class OutputRejected(Exception):
    """The build output breaks a cap or holds something other than files and directories."""


@dataclass
class _Level:
    source: int
    target: int
    path: str
    depth: int
    names: list[str]


def copy_output(source: str, target: str, caps: OutputCaps) -> int:
    """Copy the tree in `source` into the empty directory `target`; returns the bytes copied."""
    copied = entries = 0
    levels = [_open_level(os.open(source, safefs.DIR_FLAGS), os.open(target, safefs.DIR_FLAGS), "", 0)]
    try:
        while levels:
            level = levels[-1]
            if not level.names:
                _close(levels.pop())
                continue
            name = level.names.pop()
            path = f"{level.path}{name}"
            info = os.stat(name, dir_fd=level.source, follow_symlinks=False)
            entries += 1
            if entries > caps.max_entries:
                raise OutputRejected(f"the build output has more than {caps.max_entries} files and "
                                     "directories (storage_limits.program_files)")
            if stat.S_ISDIR(info.st_mode):
                if level.depth + 1 > caps.max_depth:
                    raise OutputRejected(f"the build output is more than {caps.max_depth} directories "
                                         f"deep at /program/{_printable(path)} (storage_limits.program_depth)")
                os.mkdir(name, 0o755, dir_fd=level.target)
                os.chmod(name, 0o755, dir_fd=level.target)  # whatever the umask
                child_source = os.open(name, safefs.DIR_FLAGS, dir_fd=level.source)
                try:
                    child_target = os.open(name, safefs.DIR_FLAGS, dir_fd=level.target)
                except OSError:
                    os.close(child_source)
                    raise
                levels.append(_open_level(child_source, child_target, path + "/", level.depth + 1))
            elif stat.S_ISREG(info.st_mode):
                copied += info.st_size
                if copied > caps.max_bytes:
                    raise OutputRejected(f"the build output is larger than {caps.max_bytes // MB} MB "
                                         "(storage_limits.program_size)")
                _copy_file(level.source, level.target, name, info)
            else:
                raise OutputRejected(f"/program/{_printable(path)} is a {_kind(info.st_mode)}: a build "
                                     "may only leave regular files and directories")
    finally:
        for level in levels:
            _close(level)
    return copied


def _open_level(source: int, target: int, path: str, depth: int) -> _Level:
    try:
        names = os.listdir(source)
    except OSError:
        os.close(source)
        os.close(target)
        raise
    return _Level(source, target, path, depth, names)


def _close(level: _Level) -> None:
    os.close(level.source)
    os.close(level.target)


def _copy_file(source_dir: int, target_dir: int, name: str, info: os.stat_result) -> None:
    mode = 0o755 if info.st_mode & 0o111 else 0o644
    source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=source_dir)
    try:
        opened = os.fstat(source)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise OutputRejected(f"{_printable(name)} changed while the build output was copied")
        target = os.open(name, _NEW_FILE, mode, dir_fd=target_dir)
        try:
            os.fchmod(target, mode)  # whatever the umask
            remaining, offset = info.st_size, 0
            while remaining > 0:
                sent = os.sendfile(target, source, offset, min(remaining, 1 << 30))
                if sent == 0:  # the file is shorter than it was: copy what there is
                    break
                offset += sent
                remaining -= sent
        finally:
            os.close(target)
    finally:
        os.close(source)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device file"


def _printable(path: str) -> str:
    return path.encode(errors="surrogateescape").decode(errors="replace")[-200:]
