"""`sandkasten integration-tests` runs the suites with pytest and returns pytest's exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, sandbox_missing

pytestmark = pytest.mark.skipif(sandbox_missing() is not None, reason=str(sandbox_missing()))

FAST_TEST = "test_config_is_exactly_the_public_configuration"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandkasten_py", "integration-tests", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_one_fast_test_passes() -> None:
    result = _run("-q", "-p", "no:cacheprovider", "-k", FAST_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "tests/integration tests/security" in result.stdout  # the default suites


def test_explicit_node_id_replaces_the_default_suites() -> None:
    node = f"tests/integration/test_api_config_environments.py::{FAST_TEST}"
    result = _run("-q", "-p", "no:cacheprovider", node)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_failing_selection_fails() -> None:
    missing = _run("-q", "-p", "no:cacheprovider", "tests/integration/no_such_test.py")
    assert missing.returncode != 0
    nothing = _run("-q", "-p", "no:cacheprovider", "-k", "no_test_has_this_name")
    assert nothing.returncode == 5  # pytest: no tests collected
