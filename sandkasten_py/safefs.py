"""Host-side file operations in directories that a job may have written to.

Judge0 was broken twice (CVE-2024-28185, CVE-2024-28189) by host code that followed symlinks a
job had planted. Everything here works relative to a directory file descriptor and refuses to
follow symlinks: files are created with O_NOFOLLOW | O_EXCL, read with O_NOFOLLOW, and trees are
removed by `remove_tree`, which walks with directory descriptors, never follows a link and never
recurses (a job can make trees thousands of levels deep; `shutil.rmtree` recurses in Python
3.11 and fails there with RecursionError).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # a directory, never a link to one


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")


def write_files(directory: str, files: Iterable[tuple[str, bytes]], mode: int = 0o644) -> None:
    """Create new files in `directory` (which must not be a symlink); never overwrite or follow."""
    dir_fd = os.open(directory, DIR_FLAGS)
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
    dir_fd = os.open(directory, DIR_FLAGS)
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
    dir_fd = os.open(directory, DIR_FLAGS)
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
    """Delete a directory tree (or a file or symlink) without following symlinks; missing is fine.

    Iterative, with two open descriptors whatever the depth: it descends into one subdirectory
    at a time and climbs back through `..`, checking that it arrives where it came from. It
    never crosses into another file system: a mount point inside the tree raises EBUSY. Slow
    for big trees: call it from a thread, never on the event loop.
    """
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = os.open(parent, DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        _remove_entry(parent_fd, name)
    finally:
        os.close(parent_fd)


@dataclass
class _Level:
    """A directory being emptied: its name in its parent, its identity, subdirectories left."""

    name: str
    device: int
    inode: int
    subdirectories: list[str]


def _remove_entry(parent_fd: int, name: str) -> None:
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        _unlink(parent_fd, name)
        return
    fd = _open_directory(parent_fd, name, info)
    try:
        stack = [_Level(name, info.st_dev, info.st_ino, _remove_non_directories(fd))]
        while stack:
            level = stack[-1]
            if level.subdirectories:
                child = level.subdirectories.pop()
                try:
                    child_info = os.stat(child, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(child_info.st_mode):
                    _unlink(fd, child)
                    continue
                if child_info.st_dev != info.st_dev:
                    raise OSError(errno.EBUSY, "a mount point inside the tree", child)
                child_fd = _open_directory(fd, child, child_info)
                os.close(fd)
                fd = child_fd
                stack.append(_Level(child, child_info.st_dev, child_info.st_ino,
                                    _remove_non_directories(fd)))
                continue
            stack.pop()
            if not stack:
                break
            up = os.open("..", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            up_info = os.fstat(fd)
            if (up_info.st_dev, up_info.st_ino) != (stack[-1].device, stack[-1].inode):
                raise OSError(errno.ESTALE, "the tree was moved while it was being deleted", _path_of(stack))
            os.rmdir(level.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _path_of(stack: list[_Level]) -> str:
    """The path of the innermost level, for error messages."""
    return "/".join(level.name for level in stack)


def _open_directory(parent_fd: int, name: str, expected: os.stat_result) -> int:
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    actual = os.fstat(fd)
    if (actual.st_dev, actual.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, "replaced while it was being deleted", name)
    return fd


def _remove_non_directories(fd: int) -> list[str]:
    """Unlink every entry of the directory `fd` that is not a directory; return the others."""
    subdirectories = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
            else:
                _unlink(fd, entry.name)
    return subdirectories


def _unlink(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def disk_usage(directory: str, max_depth: int = 256) -> int:
    """Bytes allocated to `directory` and what lies in it, `max_depth` levels down."""
    own = os.stat(directory, follow_symlinks=False).st_blocks * 512
    return own + sum(entry.info.st_blocks * 512 for entry in walk(directory, max_depth))


def holds_file_of_size(directory: str, size: int, max_depth: int = 32) -> bool:
    """Whether a regular file of at least `size` bytes lies in `directory`, `max_depth` levels down."""
    return any(stat.S_ISREG(e.info.st_mode) and e.info.st_size >= size for e in walk(directory, max_depth))


@dataclass(frozen=True)
class Entry:
    """Something below a walked directory."""

    path: str
    """Relative to the walked directory, `/`-separated."""
    name: str
    """The last component of `path`: open it relative to `dir_fd`."""
    dir_fd: int
    """The directory holding it; valid only until the walk goes on."""
    info: os.stat_result
    """Its own status (a link's, not its target's)."""


def walk(directory: str, max_depth: int) -> Iterator[Entry]:
    """Everything below `directory`, never following a link, not recursing.

    Holds one descriptor per level, so deeper levels than `max_depth` are not looked at. For
    places a job wrote: call it from a thread.
    """
    stack = [os.open(directory, DIR_FLAGS)]
    try:
        pending = [[(name, name) for name in os.listdir(stack[0])]]
        while stack:
            if not pending[-1]:
                os.close(stack.pop())
                pending.pop()
                continue
            name, path = pending[-1].pop()
            try:
                info = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield Entry(path, name, stack[-1], info)
            if stat.S_ISDIR(info.st_mode) and len(stack) <= max_depth:
                stack.append(os.open(name, DIR_FLAGS, dir_fd=stack[-1]))
                pending.append([(child, f"{path}/{child}") for child in os.listdir(stack[-1])])
    finally:
        for fd in stack:
            os.close(fd)
