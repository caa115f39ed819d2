"""Unit tests of the capped tmpfs mounts every writable place of a job is made of
(sandkasten_py.sandbox.tmpfs). They mount for real, so they need root."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandkasten_py.sandbox import tmpfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
FALLOC_FL_KEEP_SIZE = 1


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 1 MB and 10 inodes."""
    point = tmp_path / "mnt"
    point.mkdir()
    tmpfs.mount_tmpfs(str(point), size_bytes=1_000_000, inodes=10)
    try:
        yield point
    finally:
        if os.path.ismount(point):
            tmpfs.unmount(str(point))


def test_bytes_are_capped_even_for_reserved_blocks(mounted: Path) -> None:
    """fallocate with FALLOC_FL_KEEP_SIZE reserves blocks without growing the file, which
    RLIMIT_FSIZE does not count; the tmpfs does."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(mounted / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        result = libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(10_000_000))
        assert (result, ctypes.get_errno()) == (-1, errno.ENOSPC)
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
    with pytest.raises(OSError) as raised:
        (mounted / "g").write_bytes(b"x" * 2_000_000)
    assert raised.value.errno == errno.ENOSPC
    assert tmpfs.exhausted(str(mounted)) == (True, False)


def test_inodes_are_capped(mounted: Path) -> None:
    """10 inodes: the root and 9 more, files and directories alike."""
    for i in range(5):
        (mounted / f"f{i}").touch()
    for i in range(4):
        (mounted / f"d{i}").mkdir()
    with pytest.raises(OSError) as raised:
        (mounted / "one-more").touch()
    assert raised.value.errno == errno.ENOSPC
    assert tmpfs.exhausted(str(mounted)) == (False, True)


def test_the_root_belongs_to_nobody_and_setuid_is_ignored(mounted: Path) -> None:
    info = os.stat(mounted)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (65534, 65534, 0o1777)
    flags = os.statvfs(mounted).f_flag
    assert flags & os.ST_NOSUID and flags & os.ST_NODEV


def test_zero_caps_are_refused_because_the_kernel_reads_them_as_unlimited(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        tmpfs.mount_tmpfs(str(tmp_path), size_bytes=0, inodes=10)
    with pytest.raises(ValueError):
        tmpfs.mount_tmpfs(str(tmp_path), size_bytes=1000, inodes=0)


def test_mounts_below_finds_our_mounts_deepest_first_even_with_odd_names(tmp_path: Path) -> None:
    """Leftovers of a crash are found in mountinfo, whose paths escape spaces and newlines."""
    outer = tmp_path / "jobs" / "a b\nc"
    outer.mkdir(parents=True)
    tmpfs.mount_tmpfs(str(outer), size_bytes=1_000_000, inodes=10)
    inner = outer / "tmp"
    inner.mkdir()
    tmpfs.mount_tmpfs(str(inner), size_bytes=1_000_000, inodes=10)
    try:
        assert tmpfs.mounts_below(str(tmp_path / "jobs")) == [str(inner), str(outer)]
        assert tmpfs.mounts_below(str(tmp_path / "job")) == []
    finally:
        for point in tmpfs.mounts_below(str(tmp_path / "jobs")):
            tmpfs.unmount(point)
    assert tmpfs.mounts_below(str(tmp_path / "jobs")) == []


def test_unmount_of_what_is_not_mounted_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError) as raised:
        tmpfs.unmount(str(tmp_path))
    assert raised.value.errno == errno.EINVAL
