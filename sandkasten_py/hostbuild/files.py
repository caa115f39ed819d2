"""File-system steps of the host builder: atomic swaps, plain writes, locks and walks."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

_LIBC = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

def temp_sibling(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


def swap_in(temp: Path, final: Path) -> None:
    # rename() cannot replace a non-empty directory, so an existing tree is
    # exchanged with the new one in one step and then removed. Jobs that
    # already mounted the old tree keep it; it only loses its name.
    if not os.path.lexists(final):
        os.rename(temp, final)
        return
    if not exchange(temp, final):
        # Without renameat2 there is a short moment without `final`.
        aside = temp.with_name(temp.name + ".old")
        os.rename(final, aside)
        os.rename(temp, final)
        temp = aside
    shutil.rmtree(temp)


def exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (renameat2 RENAME_EXCHANGE); False if unsupported."""
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(first), None, str(second))


def write_plain(path: Path, text: str, mode: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def write_file(path: Path, text: str) -> None:
    # The temporary file lives one level up: the daemon takes every entry of
    # the manifest folder for an environment.
    temp = path.parent.parent / f".{path.name}.tmp-{os.getpid()}"
    write_plain(temp, text, 0o644)
    os.replace(temp, path)


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def walk_stats(path: str) -> Iterator[tuple[str, os.stat_result]]:
    yield path, os.lstat(path)
    if os.path.isdir(path) and not os.path.islink(path):
        for directory, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs + files):
                full = os.path.join(directory, name)
                yield full, os.lstat(full)


def warn_if_unreachable(out: Path) -> None:
    # nsjail mounts as root but checks that the job's user can reach the
    # source; a folder without o+x on the way (like /root) breaks every job.
    for folder in [out, *out.parents]:
        mode = os.stat(folder).st_mode
        if not mode & stat.S_IXOTH:
            print(f"warning: {folder} is not searchable by other users (mode "
                  f"{stat.S_IMODE(mode):04o}); jobs cannot mount anything under {out}",
                  file=sys.stderr)
            return


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        os.chmod(path, 0o644)
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield




def fetch_cached(url: str, path: Path, check: Callable[[bytes], None], timeout: float) -> bytes:
    """The file at `url`, kept at `path`: read from there when it is there, else fetched (OSError
    if that fails) and kept. `check` raises for bytes that are not the expected ones, every time:
    a mismatch is an error, never a silent re-download."""
    if path.is_file():
        kept = path.read_bytes()
        check(kept)
        return kept
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: bytes = response.read()
    check(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return data
