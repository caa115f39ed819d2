"""Whether the jail's user can reach a directory to bind-mount it (sandbox/reach.py)."""

from __future__ import annotations

import os
from pathlib import Path

from sandkasten_py.sandbox.reach import closed_to_jobs


def test_the_first_closed_directory_from_the_bottom_is_named(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True, mode=0o755)
    os.chmod(tmp_path / "a", 0o700)
    assert closed_to_jobs(str(deep)) == str(tmp_path / "a")
    os.chmod(deep, 0o700)
    assert closed_to_jobs(str(deep)) == str(deep)  # the directory itself counts


def test_open_all_the_way() -> None:
    assert closed_to_jobs("/") is None
    assert closed_to_jobs("/usr/bin") is None
