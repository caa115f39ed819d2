"""Host-side file operations in directories that a job may have written to.

Judge0 was broken twice (CVE-2024-28185, CVE-2024-28189) by host code that followed symlinks a
job had planted. Everything here works relative to a directory file descriptor and refuses to
follow symlinks: files are created with O_NOFOLLOW | O_EXCL, read with O_NOFOLLOW, and trees are
removed with shutil.rmtree, which uses file descriptors and never follows links on Linux.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

assert shutil.rmtree.avoids_symlink_attacks, "rmtree must not follow symlinks on this platform"


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")


def write_files(directory: str, files: Iterable[tuple[str, bytes]], mode: int = 0o644) -> None:
    """Create new files in `directory` (which must not be a symlink); never overwrite or follow."""
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        for name, content in files:
            _check_name(name)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=dir_fd)
            os.fchmod(fd, mode)  # the job's uid must be able to read it, whatever the umask
            with os.fdopen(fd, "wb") as f:
                f.write(content)
    finally:
        os.close(dir_fd)


def replace_file(directory: str, name: str, content: bytes) -> None:
    """Atomically (re)write a small file of the daemon's own in `directory`."""
    _check_name(name)
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        temporary = f".{name}.tmp"
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def read_file(directory: str, name: str) -> bytes:
    """Read a file in `directory` without following a symlink at either place."""
    _check_name(name)
    dir_fd = os.open(directory, _DIR_FLAGS)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            return f.read()
    finally:
        os.close(dir_fd)


def exists(directory: str, name: str) -> bool:
    """Whether `name` exists in `directory` (a symlink counts as itself, not its target)."""
    try:
        os.stat(os.path.join(directory, name), follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def remove_tree(path: str) -> None:
    """Delete a directory tree (or a file or symlink) without following symlinks; missing is fine."""
    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
            return
    except FileNotFoundError:
        return
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass


def clear_directory(path: str) -> None:
    """Delete everything inside `path`, keeping `path` itself."""
    for entry in os.listdir(path):
        remove_tree(os.path.join(path, entry))
