"""`sandkasten integration-tests`: the API conformance and sandbox security suites, against a
real daemon.

The suites are pytest tests in `tests/integration` (the REST API, wire-compatible with
Sandkasten) and `tests/security` (the attack catalogue). Their fixtures (`tests/conftest.py`)
already start each daemon they need on a free loopback port, with a temporary programs and jobs
directory and the repository's config.toml, and stop it at the end; so this command only runs
pytest on those suites from the source tree and returns pytest's exit status. It adds nothing a
plain `python -m pytest tests/integration tests/security` would not do, except checking first
that the sandbox can run here (so that a suite that would only be skipped fails instead).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("tests/integration", "tests/security")

DESCRIPTION = """\
Run the integration test suites (tests/integration: REST API conformance; tests/security: the
sandbox's attack catalogue) with pytest, from the source tree, and exit with pytest's status
(0: all passed; 1: some failed; 2-5: interrupted, usage error, nothing collected...).

Every test daemon is started by the suites' fixtures on a free 127.0.0.1 port with temporary
programs and jobs directories under $TMPDIR/sandkasten-test-*/ (its log is <dir>/daemon.log
there, shown in the failure when a daemon does not start) and removed when the run ends. Needs
root, cgroups and the host-built environments of `make setup`; without them the command fails
(exit 2) instead of skipping every test.

Every argument is passed to pytest: `-k EXPR`, `-x`, `-q`... Arguments naming existing test files
or node ids (`tests/integration/test_client.py`, `path::test`) replace the default suites.
"""


def _selects_tests(argument: str) -> bool:
    """Whether a pytest argument names tests (a path or node id) rather than being an option."""
    if argument.startswith("-"):
        return False
    path = argument.split("::", 1)[0]
    return "::" in argument or (ROOT / path).exists()


def sandbox_missing() -> str | None:
    """Why the suites' daemons cannot run here (as tests/conftest.py decides), or None."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from conftest import sandbox_missing as check  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    reason: str | None = check()
    return reason


def main(argv: list[str]) -> int:
    """Run the suites with `argv` as extra pytest arguments; pytest's exit status."""
    if argv and argv[0] in ("-h", "--help"):
        print("usage: sandkasten integration-tests [pytest arguments ...]\n")
        print(DESCRIPTION, end="")
        return 0
    if not (ROOT / "tests" / "conftest.py").is_file():
        print(f"sandkasten integration-tests: no test suites under {ROOT}/tests (this command "
              "runs from a source checkout, not from an installed wheel)", file=sys.stderr)
        return 2
    try:
        import pytest  # noqa: F401  (only to report a missing test extra clearly)
    except ImportError:
        print("sandkasten integration-tests: pytest is not installed "
              "(pip install -e '.[test]')", file=sys.stderr)
        return 2
    reason = sandbox_missing()
    if reason:
        print(f"sandkasten integration-tests: cannot run the suites here: {reason}", file=sys.stderr)
        return 2
    selection = [] if any(_selects_tests(a) for a in argv) else list(SUITES)
    command = [sys.executable, "-m", "pytest", *selection, *argv]
    print(f"sandkasten integration-tests: {' '.join(command[2:])} (in {ROOT}); test daemons log "
          f"to {tempfile.gettempdir()}/sandkasten-test-*/*/daemon.log while they run", flush=True)
    return subprocess.call(command, cwd=ROOT, env=os.environ.copy())
