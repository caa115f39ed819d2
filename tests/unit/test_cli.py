"""The `sandkasten` command line: subcommands, and nothing served by accident."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandkasten_py.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_subcommand_it_prints_help_and_serves_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """`sandkasten` typed alone used to start a server on 0.0.0.0:8000 with the default
    directories (and prune another daemon's programs there)."""
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: sandkasten")
    for command in ("serve", "host-build", "envs", "integration-tests", "config-doc"):
        assert command in out


def test_python_dash_m_without_a_subcommand_exits_at_once() -> None:
    done = subprocess.run([sys.executable, "-m", "sandkasten_py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PORT": "1"})
    assert done.returncode == 2, done
    assert "usage: sandkasten" in done.stdout and "Running on" not in done.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.startswith("sandkasten-py ")
