"""Unit tests of copying a compile step's output into the store (sandkasten_py.programs.output).

The source tree stands for what an untrusted compile step left in `/program`: links to host
files, setuid bits, world-writable directories, fifos, sparse files, deep and wide trees.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandkasten_py.programs.output import OutputCaps, OutputRejected, copy_output

CAPS = OutputCaps(max_bytes=10_000_000, max_entries=100, max_depth=5)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    directory = tmp_path / "program"
    directory.mkdir()
    return directory


@pytest.fixture
def target(tmp_path: Path) -> Path:
    directory = tmp_path / "files"
    directory.mkdir()
    return directory


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """path -> (permission bits, contents or None for a directory)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        found[str(path.relative_to(root))] = (mode, None if path.is_dir() else path.read_bytes())
    return found


def test_files_and_directories_are_copied_with_their_contents(source: Path, target: Path) -> None:
    (source / "binary").write_bytes(b"\x7fELF...")
    (source / "binary").chmod(0o700)
    (source / "lib" / "pkg").mkdir(parents=True)
    (source / "lib" / "pkg" / "mod.class").write_bytes(b"class")
    (source / "empty").mkdir()
    assert copy_output(str(source), str(target), CAPS) == len(b"\x7fELF...") + len(b"class")
    assert tree(target) == {
        "binary": (0o755, b"\x7fELF..."),
        "empty": (0o755, None),
        "lib": (0o755, None),
        "lib/pkg": (0o755, None),
        "lib/pkg/mod.class": (0o644, b"class"),
    }


def test_modes_are_normalized(source: Path, target: Path) -> None:
    """No setuid, setgid or sticky bit survives, nothing stays writable by others: files are
    0755 if any execute bit was set, else 0644; directories 0755."""
    (source / "suid").write_bytes(b"x")
    (source / "suid").chmod(0o6777)
    (source / "plain").write_bytes(b"y")
    (source / "plain").chmod(0o666)
    (source / "secret").write_bytes(b"z")
    (source / "secret").chmod(0o400)  # nothing for others (0o000 would need root to read)
    (source / "shared").mkdir()
    (source / "shared").chmod(0o1777)
    copy_output(str(source), str(target), CAPS)
    assert {name: mode for name, (mode, _) in tree(target).items()} == {
        "suid": 0o755, "plain": 0o644, "secret": 0o644, "shared": 0o755,
    }
    assert all(path.stat().st_uid == os.geteuid() for path in target.rglob("*"))


@pytest.mark.parametrize("make", [
    pytest.param(lambda p: p.symlink_to("/etc/passwd"), id="symlink to a host file"),
    pytest.param(lambda p: p.symlink_to("/etc"), id="symlink to a host directory"),
    pytest.param(lambda p: os.mkfifo(p), id="fifo"),
])
def test_anything_but_files_and_directories_is_refused(source: Path, target: Path, make: object) -> None:
    """A link is never followed (nor copied as a link): the build is refused, naming the entry."""
    (source / "sub").mkdir()
    make(source / "sub" / "x")  # type: ignore[operator]
    with pytest.raises(OutputRejected, match=r"^/program/sub/x is a "):
        copy_output(str(source), str(target), CAPS)
    assert not (target / "sub" / "x").exists() and not (target / "sub" / "x").is_symlink()


def test_a_socket_is_refused(source: Path, target: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(source / "s"))
        with pytest.raises(OutputRejected, match="is a socket"):
            copy_output(str(source), str(target), CAPS)


def test_total_bytes_are_capped_by_apparent_size(source: Path, target: Path) -> None:
    """Sparse files count in full: 3 files of 4 MB holes would be 12 MB on the store's disk."""
    for name in "abc":
        with open(source / name, "wb") as f:
            f.truncate(4_000_000)
    with pytest.raises(OutputRejected, match=r"larger than 10 MB \(storage_limits.program_size\)"):
        copy_output(str(source), str(target), CAPS)


def test_exactly_at_the_byte_cap_is_fine(source: Path, target: Path) -> None:
    (source / "a").write_bytes(b"x" * 600)
    (source / "b").write_bytes(b"y" * 400)
    caps = OutputCaps(max_bytes=1000, max_entries=10, max_depth=1)
    assert copy_output(str(source), str(target), caps) == 1000


def test_entries_are_capped(source: Path, target: Path) -> None:
    for i in range(100):
        (source / str(i)).touch()
    copy_output(str(source), str(target), CAPS)  # exactly the cap
    (source / "one-more").mkdir()
    for entry in target.iterdir():
        entry.unlink()
    with pytest.raises(OutputRejected, match=r"more than 100 files and directories \(storage_limits.program_files\)"):
        copy_output(str(source), str(target), CAPS)


def test_depth_is_capped_before_descending(source: Path, target: Path) -> None:
    """Five levels are kept; a sixth is refused with the path, and no seventh level is opened."""
    (source / "1/2/3/4/5").mkdir(parents=True)
    copy_output(str(source), str(target), CAPS)
    (source / "1/2/3/4/5/6/7").mkdir(parents=True)
    fresh = target.parent / "fresh"
    fresh.mkdir()
    with pytest.raises(OutputRejected, match=r"more than 5 directories deep at /program/1/2/3/4/5/6 "
                                             r"\(storage_limits.program_depth\)"):
        copy_output(str(source), str(fresh), CAPS)


def test_hard_links_are_copied_as_separate_files_and_counted_each(source: Path, target: Path) -> None:
    (source / "a").write_bytes(b"x" * 600)
    os.link(source / "a", source / "b")
    with pytest.raises(OutputRejected, match="larger than"):
        copy_output(str(source), str(target), OutputCaps(max_bytes=1000, max_entries=10, max_depth=1))


def test_the_target_must_be_empty_and_is_never_followed(tmp_path: Path, source: Path) -> None:
    """Files are created with O_EXCL | O_NOFOLLOW: a link already in the target is not written through."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    target = tmp_path / "files"
    target.mkdir()
    (target / "binary").symlink_to(victim)
    (source / "binary").write_bytes(b"overwrite")
    with pytest.raises(FileExistsError):
        copy_output(str(source), str(target), CAPS)
    assert victim.read_bytes() == b"keep"
