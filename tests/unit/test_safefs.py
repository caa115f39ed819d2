"""Unit tests of host-side file operations in job-writable directories (sandkasten_py.safefs).

Jobs can plant symlinks in `/program` and their job directory. Host code that follows such a
link writes, reads or deletes files outside the sandbox (the Judge0 CVE-2024-28185/28189
class of bugs). Every test plants a link and checks that the target outside is left alone.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandkasten_py.safefs import exists, holds_file_of_size, read_file, remove_tree, replace_file, write_files


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """The job-writable directory."""
    directory = tmp_path / "box"
    directory.mkdir()
    return directory


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the box with a file the job must not reach."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_bytes(b"do not touch")
    return directory


# ------------------------------------------------------------------ write_files


def test_write_files_creates_files_with_contents_and_mode(box: Path) -> None:
    """Files are written as given and readable by the job's uid whatever the umask."""
    old_umask = os.umask(0o077)
    try:
        write_files(str(box), [("a.txt", b"A"), ("b", b"\x00\xff")])
    finally:
        os.umask(old_umask)
    assert (box / "a.txt").read_bytes() == b"A"
    assert (box / "b").read_bytes() == b"\x00\xff"
    assert (box / "a.txt").stat().st_mode & 0o777 == 0o644


def test_write_files_refuses_a_planted_symlink_to_an_existing_file(box: Path, outside: Path) -> None:
    """Writing `x` where the job made `x -> outside/secret` must fail and leave the target alone."""
    (box / "x").symlink_to(outside / "secret")
    with pytest.raises(OSError):
        write_files(str(box), [("x", b"overwritten")])
    assert (outside / "secret").read_bytes() == b"do not touch"
    assert (box / "x").is_symlink()


def test_write_files_refuses_a_dangling_symlink(box: Path, outside: Path) -> None:
    """A link to a not-yet-existing outside file must not create that file."""
    target = outside / "outside-target"
    (box / "x").symlink_to(target)
    with pytest.raises(OSError):
        write_files(str(box), [("x", b"planted")])
    assert not target.exists()


def test_write_files_never_overwrites(box: Path) -> None:
    """Existing files (for example from the job) are not replaced silently."""
    (box / "x").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        write_files(str(box), [("x", b"new")])
    assert (box / "x").read_bytes() == b"old"


def test_write_files_refuses_a_directory_that_is_a_symlink(tmp_path: Path, outside: Path) -> None:
    """If the directory itself was replaced by a link, nothing is written through it."""
    link = tmp_path / "linked-box"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        write_files(str(link), [("new", b"x")])
    assert not (outside / "new").exists()


@pytest.mark.parametrize("name", ["a/b", "/etc/passwd", "../escape", ".", "..", "", "a\x00b"])
def test_write_files_refuses_names_that_are_not_plain(box: Path, name: str) -> None:
    """Only plain names in the directory itself: no separators, no `.` or `..`."""
    (box / "a").mkdir()
    with pytest.raises(ValueError):
        write_files(str(box), [(name, b"x")])
    assert not (box / "a" / "b").exists()
    assert not (box.parent / "escape").exists()


# ------------------------------------------------------------------ read_file, exists, replace_file


def test_read_file_reads_a_regular_file(box: Path) -> None:
    (box / "f").write_bytes(b"content")
    assert read_file(str(box), "f") == b"content"


def test_read_file_refuses_a_symlink(box: Path, outside: Path) -> None:
    """A compile step cannot make the daemon read (and return) a host file through a link."""
    (box / "compile_result").symlink_to(outside / "secret")
    with pytest.raises(OSError):
        read_file(str(box), "compile_result")


def test_read_file_refuses_a_symlinked_directory(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        read_file(str(link), "secret")


@pytest.mark.parametrize("name", ["../outside/secret", "..", "a/b"])
def test_read_file_refuses_names_that_are_not_plain(box: Path, name: str) -> None:
    with pytest.raises(ValueError):
        read_file(str(box), name)


def test_exists_counts_a_link_as_itself(box: Path, outside: Path) -> None:
    """A dangling link exists (it occupies the name); a missing name does not."""
    (box / "dangling").symlink_to(outside / "nothing")
    assert exists(str(box), "dangling")
    assert not exists(str(box), "missing")


def test_replace_file_replaces_a_planted_symlink_without_following_it(box: Path, outside: Path) -> None:
    """The daemon's own files (like `last_run`) are replaced atomically; a link there is
    replaced, not written through."""
    (box / "last_run").symlink_to(outside / "secret")
    replace_file(str(box), "last_run", b"123")
    assert not (box / "last_run").is_symlink()
    assert (box / "last_run").read_bytes() == b"123"
    assert (outside / "secret").read_bytes() == b"do not touch"
    replace_file(str(box), "last_run", b"456")
    assert (box / "last_run").read_bytes() == b"456"


# ------------------------------------------------------------------ remove_tree


def test_remove_tree_does_not_follow_links_to_outside_directories(box: Path, outside: Path) -> None:
    """Deleting a program directory must delete the job's link, never what it points to."""
    (box / "sub").mkdir()
    (box / "sub" / "f").write_bytes(b"x")
    (box / "sub" / "link-dir").symlink_to(outside)
    (box / "link-file").symlink_to(outside / "secret")
    remove_tree(str(box))
    assert not box.exists() and not box.is_symlink()
    assert (outside / "secret").read_bytes() == b"do not touch"


def test_remove_tree_of_a_symlink_removes_only_the_link(tmp_path: Path, outside: Path) -> None:
    """If the path itself is a link to a directory, only the link goes."""
    link = tmp_path / "link"
    link.symlink_to(outside)
    remove_tree(str(link))
    assert not link.is_symlink()
    assert (outside / "secret").exists()


def test_remove_tree_of_a_file(box: Path) -> None:
    (box / "f").write_bytes(b"x")
    remove_tree(str(box / "f"))
    assert not (box / "f").exists()


def test_remove_tree_of_a_missing_path_is_fine(tmp_path: Path) -> None:
    """The pruner may race with another deletion; a missing path is not an error."""
    remove_tree(str(tmp_path / "missing"))
    remove_tree(str(tmp_path / "missing" / "deeper"))


def test_remove_tree_of_read_only_subdirectories(box: Path) -> None:
    """A job may leave directories without write permission; the tree still goes (as root)."""
    (box / "ro").mkdir()
    (box / "ro" / "f").write_bytes(b"x")
    (box / "ro").chmod(0o555)
    try:
        remove_tree(str(box))
    except PermissionError:
        (box / "ro").chmod(0o755)
        if os.geteuid() != 0:
            pytest.skip("only root can delete inside read-only directories")
        raise
    assert not box.exists()


def make_deep_tree(top: Path, depth: int) -> None:
    """`top/d/d/.../d` `depth` levels deep, a file and a link to /etc at every level (made with
    descriptors: the path is far longer than PATH_MAX)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            os.symlink("/etc", "etc", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


@pytest.fixture
def memory_path() -> Iterator[Path]:
    """A directory on a tmpfs (/dev/shm) when there is one: big trees there cost no disk I/O."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="sandkasten-safefs-", dir=base) as directory:
        yield Path(directory)


def test_remove_tree_of_a_5000_level_tree_with_little_stack_and_few_descriptors(memory_path: Path) -> None:
    """A job can leave a tree thousands of levels deep (shutil.rmtree recursed and raised
    RecursionError at 1,000). It goes, with Python's recursion limit at 100 and only 16
    descriptors allowed: nothing recurses, and no descriptor is held per level."""
    make_deep_tree(memory_path / "deep", 5000)
    script = f"""
import resource, sys
sys.setrecursionlimit(100)
resource.setrlimit(resource.RLIMIT_NOFILE, (16, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from sandkasten_py.safefs import remove_tree
remove_tree({str(memory_path / "deep")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert not (memory_path / "deep").exists()
    assert os.path.isdir("/etc")


def test_remove_tree_of_many_files_and_directories(memory_path: Path) -> None:
    """A wide tree: 20,000 files in one directory and 500 subdirectories with files."""
    wide = memory_path / "wide"
    wide.mkdir()
    for i in range(20_000):
        (wide / str(i)).touch()
    for i in range(500):
        (wide / f"sub{i}" / "x").mkdir(parents=True)
        (wide / f"sub{i}" / "x" / "f").touch()
    remove_tree(str(wide))
    assert not wide.exists()


def test_remove_tree_stops_at_a_mount_point_and_leaves_the_mount_alone(tmp_path: Path) -> None:
    """Deleting never crosses into another file system (a bind mount of something precious
    inside the tree): EBUSY, and the mounted files are intact."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    from sandkasten_py.sandbox import tmpfs

    (tmp_path / "tree" / "mnt").mkdir(parents=True)
    tmpfs.mount_tmpfs(str(tmp_path / "tree" / "mnt"), size_bytes=1_000_000, inodes=10)
    try:
        (tmp_path / "tree" / "mnt" / "keep").write_bytes(b"x")
        with pytest.raises(OSError) as raised:
            remove_tree(str(tmp_path / "tree"))
        assert raised.value.errno == errno.EBUSY
        assert (tmp_path / "tree" / "mnt" / "keep").read_bytes() == b"x"
    finally:
        tmpfs.unmount(str(tmp_path / "tree" / "mnt"))


# ------------------------------------------------------------------ holds_file_of_size


def test_holds_file_of_size_finds_a_file_at_the_size_anywhere_below(box: Path) -> None:
    (box / "a" / "b").mkdir(parents=True)
    (box / "a" / "small").write_bytes(b"x" * 99)
    assert not holds_file_of_size(str(box), 100)
    (box / "a" / "b" / "big").write_bytes(b"x" * 100)
    assert holds_file_of_size(str(box), 100)


def test_holds_file_of_size_ignores_links_and_what_is_too_deep(box: Path, outside: Path) -> None:
    """A link to a big file outside is not followed; levels below `max_depth` are not read."""
    (outside / "big").write_bytes(b"x" * 1000)
    (box / "link").symlink_to(outside / "big")
    (box / "dirlink").symlink_to(outside)
    assert not holds_file_of_size(str(box), 1000)
    make_deep_tree(box / "deep", 10)
    fd = os.open(box / "deep" / ("d/" * 10).rstrip("/"), os.O_RDONLY | os.O_DIRECTORY)
    os.close(os.open("big", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    with open(os.open("big", os.O_WRONLY, dir_fd=fd), "wb") as f:
        f.write(b"x" * 1000)
    os.close(fd)
    assert holds_file_of_size(str(box), 1000, max_depth=11)
    assert not holds_file_of_size(str(box), 1000, max_depth=5)
