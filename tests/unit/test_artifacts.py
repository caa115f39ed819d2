"""Unit tests of sandkasten_py.programs.artifacts: listing and opening a program's build output
without following links, whatever a compile step left (tests of the store's copy are in
test_output.py; this is the second line)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sandkasten_py.programs.artifacts import list_artifacts, open_artifact


def tree(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "app.js").write_text("console.log(1)")
    (root / "app.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "assets" / "data.bin").write_bytes(b"x" * 3)
    return root


def test_regular_files_are_listed_with_size_hash_and_type(tmp_path: Path) -> None:
    found = list_artifacts(str(tree(tmp_path / "files")))
    assert [(a.name, a.size, a.content_type) for a in found] == [
        ("app.js", 14, "text/javascript; charset=utf-8"),
        ("app.wasm", 8, "application/wasm"),
        ("assets/data.bin", 3, "application/octet-stream"),
    ]
    assert found[1].sha256 == hashlib.sha256(b"\0asm\1\0\0\0").hexdigest()


def test_links_fifos_and_their_targets_are_not_artifacts(tmp_path: Path) -> None:
    files = tree(tmp_path / "files")
    (tmp_path / "secret").write_text("host file")
    (files / "link").symlink_to(tmp_path / "secret")
    (files / "dirlink").symlink_to(tmp_path)
    os.mkfifo(files / "fifo")
    assert [a.name for a in list_artifacts(str(files))] == ["app.js", "app.wasm", "assets/data.bin"]
    for name in ("link", "dirlink/secret", "fifo"):
        with pytest.raises(FileNotFoundError):
            open_artifact(str(files), name)


@pytest.mark.parametrize("name", ["", "..", "../secret", "assets/../app.js", "./app.js", "/app.js",
                                  "assets//data.bin", "assets/", "app.js/", "assets", "nothing",
                                  "app\0.js", "a/" * 40 + "x"])
def test_bad_or_missing_names_are_not_found(tmp_path: Path, name: str) -> None:
    files = tree(tmp_path / "files")
    (tmp_path / "secret").write_text("host file")
    with pytest.raises(FileNotFoundError):
        open_artifact(str(files), name)


def test_an_artifact_opens_read_only_at_its_name(tmp_path: Path) -> None:
    fd = open_artifact(str(tree(tmp_path / "files")), "assets/data.bin")
    try:
        assert os.read(fd, 100) == b"xxx"
        with pytest.raises(OSError):
            os.write(fd, b"y")
    finally:
        os.close(fd)
