"""gVisor as a second sandbox, through the real daemon over HTTP: the environments configured in
`gvisor.environments` run their compile and run steps with Debian's runsc, the others stay on
nsjail. The quick environments' conformance programs and examples pass under gVisor; a runsc
that cannot run a job is an error in the envelope that names runsc's own message. The attack
cases under gVisor are in tests/security/test_gvisor_sandbox.py."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GVISOR_ENVIRONMENTS
from tests.integration.test_environments import (
    CONFORMANCE_ARGS, CONFORMANCE_STDIN, TEST_TXT, conformance_program_id, description, run_program,
)

pytestmark = pytest.mark.sandbox

GVISOR_KERNEL = "Linux version 4.4.0"  # what gVisor's kernel says it is in /proc/version
HOST_KERNEL = Path("/proc/version").read_text()


@pytest.mark.parametrize("env_id", GVISOR_ENVIRONMENTS)
def test_conformance_program_passes_under_gvisor(gvisor_daemon: Any, env_id: str) -> None:
    program_id = conformance_program_id(gvisor_daemon, env_id, {})
    result = run_program(gvisor_daemon, program_id, {
        "stdin": CONFORMANCE_STDIN, "args": CONFORMANCE_ARGS, "files": [TEST_TXT]})
    expected = description(env_id).test.expected_output
    assert (result["status"], result["stdout"].strip(), result["exceeded"]) == (0, expected, []), result
    # and the checks are real there too: a wrong stdin fails
    wrong = run_program(gvisor_daemon, program_id, {"stdin": "nope", "args": CONFORMANCE_ARGS, "files": [TEST_TXT]})
    assert wrong["status"] == 1, wrong


@pytest.mark.parametrize("env_id", GVISOR_ENVIRONMENTS)
def test_example_program_greets_under_gvisor(gvisor_daemon: Any, env_id: str) -> None:
    example = description(env_id).example
    response = gvisor_daemon.post("/run", json={
        "build": {"environment": env_id, "main_file": {"content": example}}, "run": {"stdin": "World"}})
    assert response.status_code == 200, response.text
    result = response.json()["run"]
    assert (result["status"], result["stdout"].strip()) == (0, "Hello, World!"), result


PROC_VERSION = {
    "python": "print(open('/proc/version').read())",
    "bash": "read -r line < /proc/version; echo \"$line\"",
    "c": '#include <stdio.h>\nint main(void) { char b[256] = {0}; FILE *f = fopen("/proc/version", "r");'
         ' if (!f || !fgets(b, sizeof b, f)) return 1; fputs(b, stdout); return 0; }',
    "ruby": "puts File.read('/proc/version')",
}


@pytest.mark.parametrize("env_id", [*GVISOR_ENVIRONMENTS[:3], "ruby"])
def test_configured_environments_run_under_gvisor_and_the_others_under_nsjail(gvisor_daemon: Any,
                                                                              env_id: str) -> None:
    """/proc/version is the Sentry's (gVisor's kernel) for the configured environments, compile
    step included for C, and the host's for ruby, which the daemon leaves on nsjail."""
    response = gvisor_daemon.post("/run", json={
        "build": {"environment": env_id, "main_file": {"content": PROC_VERSION[env_id]}}, "run": {}})
    assert response.status_code == 200, response.text
    result = response.json()["run"]
    assert result["status"] == 0, result
    if env_id == "ruby":
        assert result["stdout"].strip() == HOST_KERNEL.strip()
    else:
        assert result["stdout"].startswith(GVISOR_KERNEL), result
        assert GVISOR_KERNEL not in HOST_KERNEL


COMPILED_UNDER_GVISOR = r"""
#if __has_include("/dev/fuse") && __has_include("/dev/net/tun")
int main(void) { return 0; }
#else
#error "the compiler does not see gVisor's /dev"
#endif
"""


def test_compile_steps_run_under_gvisor(gvisor_daemon: Any, daemon: Any) -> None:
    """The compiler sees gVisor's /dev, which has /dev/fuse and /dev/net/tun (nsjail's has
    neither): the build succeeds under gVisor and fails on the nsjail daemon."""
    body = {"environment": "c", "main_file": {"content": COMPILED_UNDER_GVISOR}}
    response = gvisor_daemon.post("/programs", json=body)
    assert response.status_code == 201, response.text
    under_nsjail = daemon.post("/programs", json=body)
    assert under_nsjail.status_code == 400 and "does not see gVisor" in under_nsjail.text, under_nsjail.text


def test_bundles_are_removed_after_the_jobs(gvisor_daemon: Any) -> None:
    """Every job's bundle (configuration, root, runsc state and log) goes once the job is done."""
    response = gvisor_daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": "print(1)"}}, "run": {}})
    assert response.status_code == 200, response.text
    bundles = Path(str(gvisor_daemon.jobs_dir).rstrip("/") + "-gvisor")
    assert stat.S_IMODE(bundles.stat().st_mode) == 0o700
    deadline = time.monotonic() + 10  # removed in the background, after the answer
    while os.listdir(bundles) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(bundles) == []


FAKE_RUNSC = """#!/bin/sh
# Fails like runsc does when it cannot create the container: an error in its log, exit 128.
while [ "$1" != "--log" ]; do shift; done
printf '{"msg":"cannot create sandbox: no gofer today","level":"error"}' > "$2"
echo "running container: no gofer today" >&2
exit 128
"""


def test_runsc_failing_to_run_a_job_is_an_error_with_its_message(
        daemon_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("runsc")
    fake = directory / "runsc"
    fake.write_text(FAKE_RUNSC)
    fake.chmod(0o755)
    broken = daemon_factory(GVISOR__ENVIRONMENTS="python", GVISOR__RUNSC=str(fake))
    response = broken.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": "print(1)"}}, "run": {}})
    assert response.status_code == 500, response.text
    assert "gVisor (runsc) failed: cannot create sandbox: no gofer today" in broken.log()
    # nsjail environments of the same daemon are unaffected
    ruby = broken.post("/run", json={"build": {"environment": "ruby", "main_file": {"content": "puts 1"}},
                                     "run": {}})
    assert ruby.status_code == 200 and ruby.json()["run"]["stdout"] == "1\n", ruby.text


def test_a_daemon_without_runsc_does_not_start(daemon_factory: Callable[..., Any]) -> None:
    with pytest.raises(RuntimeError, match="gvisor.runsc.*not an executable"):
        daemon_factory(GVISOR__ENVIRONMENTS="python", GVISOR__RUNSC="/nonexistent/runsc")
