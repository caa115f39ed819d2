"""Environment conformance: every folder of nix/packages/ is served by the daemon and passes its test.

For each environment folder the conformance program (README of nix/packages, "The conformance
program") is built from the folder's `test.main_file` (sent without a name) and `test.files`, then
run with stdin `stdin`, args `foo bar baz` and a run file `test.txt` containing `hello world`: it
must print the expected text (default `OK`) and exit 0. The same program run with a wrong stdin,
with two args, or without `test.txt` must fail with the exit code the contract gives, which proves
that the checks are real. The example program must greet `World`.

Everything goes through the real daemon over HTTP. Every folder with a `[host]` section must
have a host-built manifest in pkgs/ (`make setup` installs its Debian packages; a folder without a
manifest in the daemon is a failure, not a skip). Folders without `[host]` exist only on the Nix
side (their toolchain is not in Debian) and are not run here. A program whose language cannot
see stdin, args or files (`test.checks_inputs = false`, e.g. SQL) skips the input checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandkasten_py.hostbuild.description import Description, load_description

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "nix" / "packages"
DESCRIBED_IDS = sorted(p.name for p in PACKAGES.iterdir() if (p / "package.toml").is_file())
ENVIRONMENT_IDS = [env_id for env_id in DESCRIBED_IDS
                   if load_description(PACKAGES / env_id).host is not None]
INPUT_CHECKING_IDS = [env_id for env_id in ENVIRONMENT_IDS
                      if load_description(PACKAGES / env_id).test.checks_inputs]

CONFORMANCE_STDIN = "stdin"
CONFORMANCE_ARGS = ["foo", "bar", "baz"]
TEST_TXT = {"name": "test.txt", "content": "hello world"}


def test_the_first_environments_are_described_and_run_on_hosts() -> None:
    """A folder that vanished (or lost its [host] section) would silently shrink the suite."""
    assert {"bash", "c", "cpp", "python", "rust"} <= set(INPUT_CHECKING_IDS)


@pytest.fixture(scope="module")
def served(daemon: Any) -> dict[str, Any]:
    """GET /environments of the shared daemon."""
    response = daemon.get("/environments")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


@pytest.fixture(scope="module")
def built_programs() -> dict[str, str]:
    """program_id of each environment's conformance program, built once per module."""
    return {}


def description(env_id: str) -> Description:
    return load_description(PACKAGES / env_id)


def conformance_program_id(daemon: Any, env_id: str, cache: dict[str, str]) -> str:
    """Build the conformance program (main file without a name) and return its program_id."""
    if env_id in cache:
        return cache[env_id]
    test = description(env_id).test
    body = {
        "environment": env_id,
        "main_file": {"content": test.main_file.content},
        "files": [{"name": f.name, "content": f.content} for f in test.files],
    }
    response = daemon.post("/programs", json=body)
    assert response.status_code == 201, f"{env_id}: build failed: {response.text}"
    result = response.json()
    compile_result = result["compile_result"]
    if compile_result is not None:
        assert compile_result["status"] == 0, compile_result
    program_id: str = result["program_id"]
    cache[env_id] = program_id
    return program_id


def run_program(daemon: Any, program_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = daemon.post(f"/programs/{program_id}/run", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("env_id", ENVIRONMENT_IDS)
def test_environment_is_built_by_the_host_builder(daemon: Any, served: dict[str, Any], env_id: str) -> None:
    """Every folder has a manifest the daemon serves, with the folder's name and main file name."""
    assert env_id in served, (
        f"environment folder nix/packages/{env_id} has no manifest in the daemon "
        f"(served: {sorted(served)}); run `make setup`")
    desc = description(env_id)
    environment = served[env_id]
    assert environment["name"] == desc.name
    assert environment["default_main_file_name"] == desc.default_main_file_name
    assert environment["version"]
    assert environment["example"] == desc.example


@pytest.mark.parametrize("env_id", ENVIRONMENT_IDS)
def test_conformance_program_passes(daemon: Any, built_programs: dict[str, str], env_id: str) -> None:
    program_id = conformance_program_id(daemon, env_id, built_programs)
    result = run_program(daemon, program_id, {
        "stdin": CONFORMANCE_STDIN, "args": CONFORMANCE_ARGS, "files": [TEST_TXT],
    })
    expected = description(env_id).test.expected_output
    assert (result["status"], result["stdout"].strip()) == (0, expected), result
    assert result["exceeded"] == []


@pytest.mark.parametrize("env_id", INPUT_CHECKING_IDS)
@pytest.mark.parametrize(("case", "body", "exit_code"), [
    ("wrong_stdin", {"stdin": "nope", "args": CONFORMANCE_ARGS, "files": [TEST_TXT]}, 1),
    ("no_stdin", {"args": CONFORMANCE_ARGS, "files": [TEST_TXT]}, 1),
    ("two_args", {"stdin": CONFORMANCE_STDIN, "args": ["foo", "bar"], "files": [TEST_TXT]}, 2),
    ("wrong_third_arg", {"stdin": CONFORMANCE_STDIN, "args": ["foo", "bar", "qux"], "files": [TEST_TXT]}, 5),
    ("no_test_txt", {"stdin": CONFORMANCE_STDIN, "args": CONFORMANCE_ARGS}, 6),
    ("wrong_test_txt", {"stdin": CONFORMANCE_STDIN, "args": CONFORMANCE_ARGS,
                        "files": [{"name": "test.txt", "content": "hello"}]}, 6),
])
def test_conformance_program_detects(daemon: Any, built_programs: dict[str, str], env_id: str,
                                     case: str, body: dict[str, Any], exit_code: int) -> None:
    """The checks are real: each broken input fails with the contract's exit code and no OK."""
    program_id = conformance_program_id(daemon, env_id, built_programs)
    result = run_program(daemon, program_id, body)
    expected = description(env_id).test.expected_output
    assert result["status"] != 0, f"{case}: {result}"
    assert result["stdout"].strip() != expected, f"{case}: {result}"
    assert result["status"] == exit_code, f"{case}: {result}"


# As in Sandkasten, SQL has no example: a query cannot read a name from stdin.
WITHOUT_EXAMPLE = {"sql"}


@pytest.mark.parametrize("env_id", DESCRIBED_IDS)
def test_every_environment_but_sql_has_an_example(env_id: str) -> None:
    assert (description(env_id).example is None) == (env_id in WITHOUT_EXAMPLE)


@pytest.mark.parametrize("stdin", ["World", "World\n"], ids=["name", "line"])
@pytest.mark.parametrize("env_id", [i for i in ENVIRONMENT_IDS if i not in WITHOUT_EXAMPLE])
def test_example_program_greets(daemon: Any, env_id: str, stdin: str) -> None:
    """As the README says: every example reads a name from stdin (with or without the newline a
    terminal would send) and prints `Hello, <name>!`."""
    example = description(env_id).example
    assert example is not None, f"nix/packages/{env_id} has no example"
    response = daemon.post("/run", json={
        "build": {"environment": env_id, "main_file": {"content": example}},
        "run": {"stdin": stdin},
    })
    assert response.status_code == 200, response.text
    result = response.json()["run"]
    assert (result["status"], result["stdout"].strip()) == (0, "Hello, World!"), result
