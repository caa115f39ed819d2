"""`sandkasten envs`: checks environments through the real sandbox and reports a broken one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ENVIRONMENTS, ROOT, sandbox_missing

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module", autouse=True)
def needs_sandbox() -> None:
    reason = sandbox_missing()
    if reason:
        pytest.skip(reason)


def sandkasten(*args: str, environments: str = str(ENVIRONMENTS)) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONFIG_PATH": str(ROOT / "config.toml"),
           "ENVIRONMENTS_PATH": environments}
    return subprocess.run([sys.executable, "-m", "sandkasten_py", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def broken_environment() -> Iterator[str]:
    """An environments dir holding `broken`: python's manifest with a run script that fails."""
    with tempfile.TemporaryDirectory(prefix="sandkasten-broken-") as top:
        os.chmod(top, 0o711)
        scripts = Path(top, "scripts")
        scripts.mkdir(mode=0o755)
        run = scripts / "run.sh"
        run.write_text("#!/usr/bin/bash\necho 'boom: the interpreter is missing' >&2\nexit 3\n")
        run.chmod(0o755)
        (scripts / "closure").write_text("")
        manifest = json.loads((ENVIRONMENTS / "python.json").read_text())
        manifest["name"] = "Broken"
        manifest["closure"] = str(scripts / "closure")
        manifest["mounts"] = [m if m["target"] != "/sandkasten" else {"source": str(scripts), "target": "/sandkasten"}
                              for m in manifest["mounts"]]
        packages = Path(top, "packages")
        packages.mkdir(mode=0o755)
        (packages / "broken.json").write_text(json.dumps(manifest))
        yield str(packages)


def test_checks_the_named_environments_and_prints_a_table() -> None:
    result = sandkasten("envs", "python", "c")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["environment", "version", "build", "run", "result"]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert set(rows) == {"c", "python"}
    assert rows["python"][-1] == rows["c"][-1] == "ok"
    assert rows["python"][2] == "-"  # no compile step
    assert rows["c"][2].isdigit() and rows["c"][3] == "ms"  # "<n> ms" build time
    assert "all 2 environments passed" in result.stdout


def test_a_broken_environment_fails_with_its_name_and_stderr(broken_environment: str) -> None:
    result = sandkasten("envs", "broken", "python", environments=f"{broken_environment}:{ENVIRONMENTS}")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:3]}
    assert rows == {"broken": "FAILED", "python": "ok"}
    assert "broken: conformance program failed" in result.stderr
    assert "boom: the interpreter is missing" in result.stderr
    assert "1 of 2 environments failed: broken" in result.stderr


def test_unknown_environment_is_a_usage_error() -> None:
    result = sandkasten("envs", "nope")
    assert result.returncode == 2
    assert "unknown environments: nope" in result.stderr


def test_list_only_lists() -> None:
    result = sandkasten("envs", "--list", "python")
    assert result.returncode == 0
    assert result.stdout.split()[:2] == ["python", "Python"]
