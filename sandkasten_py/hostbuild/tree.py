"""Building a job's /usr from host files: hard links, recreated symlinks, fresh directories."""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass

from sandkasten_py.hostbuild.debian import ETC_ALTERNATIVES, is_under, normalise_path

DIR_MODE = 0o755


@dataclass
class TreeStats:
    """What went into a tree."""

    files: int = 0
    symlinks: int = 0
    directories: int = 0
    bytes: int = 0


def pycache_companions(targets: dict[str, str]) -> dict[str, str]:
    """Compiled bytecode next to included `.py` files (made by maintainer scripts, so not in dpkg's lists).

    Without them Python would recompile every imported module on each start,
    because the job's /usr is read-only.
    """
    stems_by_dir: dict[str, set[str]] = {}
    for target, source in targets.items():
        if target.endswith(".py"):
            directory, name = posixpath.split(source)
            stems_by_dir.setdefault(directory, set()).add(name[:-3])
    extra: dict[str, str] = {}
    for directory, stems in stems_by_dir.items():
        cache = posixpath.join(directory, "__pycache__")
        try:
            names = os.listdir(cache)
        except OSError:
            continue
        for name in names:
            if name.endswith(".pyc") and name.split(".", 1)[0] in stems:
                source = posixpath.join(cache, name)
                extra[normalise_path(source)] = source
    return extra


def build_tree(root: str, entries: dict[str, str],
               alternatives: list[tuple[str, str]] | None = None) -> TreeStats:
    """Mirror host paths into `root`: `entries` maps a jail path to the host path it comes from.

    Regular files are hard-linked (copied across file systems, or when they are
    not world-readable), symlinks are recreated, directories are made 0755.
    Then `alternatives` (link, resolved target) are added where their target
    made it into the tree.
    """
    stats = TreeStats()
    # Sorted, a path comes after its parent, so symlinked parents are known first.
    for target in sorted(entries):
        source = entries[target]
        try:
            info = os.lstat(source)
        except OSError:
            continue  # listed by dpkg but gone from disk (excluded docs, removed by hand)
        dest = root + target
        if not _make_parents(root, target, stats):
            continue
        if stat.S_ISDIR(info.st_mode):
            if not os.path.lexists(dest):
                os.mkdir(dest, DIR_MODE)
                os.chmod(dest, DIR_MODE)
                stats.directories += 1
        elif os.path.lexists(dest):
            continue
        elif stat.S_ISLNK(info.st_mode):
            os.symlink(_link_target(source), dest)
            stats.symlinks += 1
        elif stat.S_ISREG(info.st_mode):
            _place_file(source, dest, info)
            stats.files += 1
            stats.bytes += info.st_size
    for link, resolved in alternatives or ():
        link = normalise_path(link)
        resolved = normalise_path(resolved)
        if not is_under(link, "/usr") or os.path.lexists(root + link):
            continue
        if os.path.lexists(root + resolved) and _make_parents(root, link, stats):
            os.symlink(resolved, root + link)
            stats.symlinks += 1
    return stats


def copy_host_path(source: str, dest: str) -> None:
    """Copy a host file or directory tree (symlinks kept as links), directories 0755."""
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, dest, symlinks=True)
        for directory, _dirs, _files in os.walk(dest):
            os.chmod(directory, DIR_MODE)
    else:
        os.makedirs(os.path.dirname(dest), mode=DIR_MODE, exist_ok=True)
        shutil.copy2(source, dest, follow_symlinks=False)


def _link_target(source: str) -> str:
    target = os.readlink(source)
    absolute = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    if is_under(absolute, ETC_ALTERNATIVES):
        # /etc is not in the job, so point straight at the current choice.
        resolved = normalise_path(os.path.realpath(source))
        if is_under(resolved, "/usr"):
            return resolved
    return target


def _make_parents(root: str, target: str, stats: TreeStats) -> bool:
    """Create the missing parent directories of `target`; False if one of them is not a directory.

    A parent that is a symlink in the tree must not be followed: an absolute
    link would lead out of the tree into the host's /usr.
    """
    path = root
    for part in target.strip("/").split("/")[:-1]:
        path = path + "/" + part
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE)
            stats.directories += 1
            continue
        if not stat.S_ISDIR(info.st_mode):
            return False
    return True


def _place_file(source: str, dest: str, info: os.stat_result) -> None:
    mode = stat.S_IMODE(info.st_mode)
    # A hard link shares the host inode and its mode; only files that the job's
    # user may read anyway, and that carry no set-id bits, are shared.
    if mode & stat.S_IROTH and not mode & (stat.S_ISUID | stat.S_ISGID):
        try:
            os.link(source, dest, follow_symlinks=False)
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
                raise
    shutil.copyfile(source, dest, follow_symlinks=False)
    exec_bits = 0o111 if mode & 0o111 else 0
    os.chmod(dest, (mode & 0o755) | 0o444 | exec_bits)
