"""Size- and inode-capped tmpfs mounts on the host: every place a job can write is one of these.

A tmpfs counts every byte a job stores, including blocks reserved with `fallocate` (which do not
count against RLIMIT_FSIZE) and pages of sparse files it fills, and it refuses new files past
`nr_inodes`; both end in ENOSPC for the job, never in a full host disk. The daemon mounts them
itself (rather than letting nsjail mount `/tmp` inside the jail) so that it can look at what the
job left behind: a compile step's `/program` is copied into the program store, and a file that
stopped at the job's `filesize` limit shows that the limit was hit.

The mounts are `nosuid,nodev` and live in the daemon's mount namespace under its jobs
directory; `unmount` detaches them, and the daemon removes leftovers of a crash at startup
(`mounts_below`). Mounting needs CAP_SYS_ADMIN, which the daemon has (it starts nsjail as root).
"""

from __future__ import annotations

import ctypes
import os

SOURCE = b"sandkasten"  # the device name shown in mountinfo, to recognise our mounts
MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2
NOBODY = 65534
MAX_SIZE = 1 << 50  # 1 PiB: larger sizes overflow the kernel's page count

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount_tmpfs(target: str, *, size_bytes: int, inodes: int, mode: int = 0o1777) -> None:
    """Mount a tmpfs of at most `size_bytes` and `inodes` (its root included) at `target`.

    The root directory belongs to the jobs' user (nobody). Zero would mean "unlimited" to the
    kernel, so both caps must be at least 1.
    """
    if size_bytes < 1 or inodes < 1:
        raise ValueError(f"a tmpfs needs a size and an inode cap of at least 1 ({size_bytes}, {inodes})")
    size_bytes = min(size_bytes, MAX_SIZE)  # a configured "unlimited" limit must still mount
    options = f"size={size_bytes},nr_inodes={inodes},mode={mode:o},uid={NOBODY},gid={NOBODY}"
    if _libc.mount(SOURCE, os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot mount a tmpfs: {os.strerror(error)}", target)


def unmount(target: str) -> None:
    """Detach the mount at `target`; its files are freed when nothing uses them any more."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot unmount: {os.strerror(error)}", target)


def mounts_below(directory: str) -> list[str]:
    """Mount points strictly inside `directory`, deepest first (the order to unmount them)."""
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", "rb") as mountinfo:
        for line in mountinfo:
            fields = line.split(b" ")
            # "\040" and friends escape spaces, tabs, newlines and backslashes in mountinfo paths
            point = fields[4].decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")
            if point.startswith(prefix):
                found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def exhausted(target: str) -> tuple[bool, bool]:
    """Whether the file system at `target` is out of (space, inodes)."""
    info = os.statvfs(target)
    return info.f_bfree == 0, info.f_ffree == 0
