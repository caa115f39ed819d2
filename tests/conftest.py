"""Shared fixtures: a real daemon on a free loopback port, with its own programs and jobs dirs.

Tests talk HTTP to it (``requests``) and send literal JSON; nothing in the sandbox is mocked. The
daemon uses the repository's config.toml and the host-built environments in ``pkgs/`` (made by
``make setup``), with the overrides a test asks for as environment variables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from sandkasten_py.sandbox.gates import BASH, GATE_SCRIPT, GATE_NAME

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ROOT / "pkgs" / "share" / "sandkasten" / "packages"
CGROUP_PARENT = Path("/sys/fs/cgroup/memory/sandkasten")
STARTUP_TIMEOUT_S = 30
SETTLE_S = 10  # how long cleanup after a response (it runs in the background) may take


def settled(find: Callable[[], object], expected: object, seconds: float = SETTLE_S) -> object:
    """Call `find` until it returns `expected` or `seconds` pass; returns what it returned last.

    The daemon answers first and then removes a job's directory and cgroup in the background,
    so "nothing is left" holds a moment after the response, not at once."""
    deadline = time.monotonic() + seconds
    while (found := find()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


GATE_ARGV = [os.fsencode(arg) for arg in (BASH, "-c", GATE_SCRIPT, GATE_NAME)]


def _argvs(cgroup: Path) -> list[list[bytes]] | None:
    """The command lines of the processes in a cgroup (those still there when read), or None
    if the cgroup cannot be read."""
    try:
        pids = (cgroup / "cgroup.procs").read_text().split()
    except OSError:
        return None
    argvs = []
    for pid in pids:
        try:
            argvs.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1])
        except OSError:
            continue
    return argvs


def ready_gate(cgroup: Path) -> bool:
    """Whether a job cgroup holds only a gate: a process waiting for the argv of a job (the
    daemon keeps a few ready; see sandkasten_py/sandbox/gates.py), not a job. (For leftover
    checks: anything not seen to be a gate counts as left behind.)"""
    argvs = _argvs(cgroup)
    return argvs is not None and bool(argvs) and all(argv == GATE_ARGV for argv in argvs)


WASI_WORKER = b"sandkasten_py.wasm.worker"  # in the command lines of a WASI worker and its nsjail
WASI_WORKER_CGROUP = "wasm-"  # how the names of their cgroups start (sandkasten_py/wasm/pool.py)


def wasi_worker(cgroup: Path) -> bool:
    """Whether a cgroup holds a WASI worker of the daemon (nsjail and the Python in it): a
    process the daemon keeps for as long as it runs, like a gate, not a job."""
    argvs = _argvs(cgroup)
    return (cgroup.name.startswith(WASI_WORKER_CGROUP) and argvs is not None and bool(argvs)
            and all(WASI_WORKER in argv for argv in argvs))


def standing(cgroup: Path) -> bool:
    """Whether a cgroup holds one of the daemon's standing processes (a ready gate or a WASI
    worker), not a job. (For leftover checks: anything else counts as left behind.)"""
    return ready_gate(cgroup) or wasi_worker(cgroup)


def holds_a_job(cgroup: Path) -> bool:
    """Whether a job cgroup is seen to hold a job: a process that is not a gate, in a cgroup
    that is not a WASI worker's. (For counting running jobs: a process caught while its command
    line cannot be read does not count.)"""
    if cgroup.name.startswith(WASI_WORKER_CGROUP):
        return False
    return any(argv and argv != GATE_ARGV for argv in _argvs(cgroup) or [])


def sandbox_missing() -> str | None:
    """Why the real sandbox cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (nsjail, cgroups)"
    if not ENVIRONMENTS.is_dir():
        return "no host environments in pkgs/ (run `make setup`)"
    if not (CGROUP_PARENT.is_dir() or Path("/sys/fs/cgroup/cgroup.controllers").exists()):
        return "no parent cgroups (run `make setup`)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    """A running daemon and where it keeps its files."""

    url: str
    programs_dir: Path
    jobs_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET a path of the API."""
        return requests.get(self.url + path, timeout=120, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, json: object = None, **kwargs: object) -> requests.Response:
        """POST JSON to a path of the API."""
        return requests.post(self.url + path, json=json, timeout=120, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        """What the daemon logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_daemon(workdir: Path, **overrides: str) -> Daemon:
    """Start `python -m sandkasten_py` with env-var overrides and wait until it answers."""
    port = free_port()
    programs_dir = workdir / "programs"
    jobs_dir = workdir / "jobs"
    log_path = workdir / "daemon.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CONFIG_PATH": str(ROOT / "config.toml"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PROGRAMS_DIR": str(programs_dir),
        "JOBS_DIR": str(jobs_dir),
        "ENVIRONMENTS_PATH": str(ENVIRONMENTS),
        "ENABLE_METRICS": "true",
        **overrides,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "sandkasten_py", "serve"], env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    daemon = Daemon(f"http://127.0.0.1:{port}", programs_dir, jobs_dir, process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}:\n{daemon.log()}")
        try:
            requests.get(daemon.url + "/config", timeout=1)
            return daemon
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
            if time.monotonic() > deadline:
                daemon.stop()
                raise RuntimeError(f"daemon did not answer:\n{daemon.log()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def daemon_factory() -> Iterator[Callable[..., Daemon]]:
    """Start extra daemons with their own settings; all are stopped at the end of the session."""
    reason = sandbox_missing()
    if reason:
        pytest.skip(reason)
    started: list[Daemon] = []
    # /tmp is world-traversable, which nsjail needs: the job's uid must reach the bind sources.
    with tempfile.TemporaryDirectory(prefix="sandkasten-test-") as top:
        os.chmod(top, 0o711)

        def factory(**overrides: str) -> Daemon:
            workdir = Path(tempfile.mkdtemp(dir=top))
            os.chmod(workdir, 0o711)
            daemon = start_daemon(workdir, **overrides)
            started.append(daemon)
            return daemon

        try:
            yield factory
        finally:
            for daemon in started:
                daemon.stop()


@pytest.fixture(scope="session")
def daemon(daemon_factory: Callable[..., Daemon]) -> Daemon:
    """The shared daemon, with the repository's config.toml (run time limit raised to 10 s).
    It lives for the whole session, longer than `program_ttl` (600 s): programs built early are
    pruned meanwhile, so tests compare what a request added, not the whole programs_dir."""
    return daemon_factory(RUN_LIMITS__TIME="10")


GVISOR_ENVIRONMENTS = ("python", "c", "bash", "javascript")
"""The environments the gVisor daemon runs under gVisor (the others stay on nsjail)."""


@pytest.fixture(scope="session")
def gvisor_daemon(daemon_factory: Callable[..., Daemon]) -> Daemon:
    """A daemon that runs the jobs of `GVISOR_ENVIRONMENTS` under gVisor (`make setup` installs
    Debian's runsc), otherwise like the shared daemon."""
    return daemon_factory(RUN_LIMITS__TIME="10", GVISOR__ENVIRONMENTS=" ".join(GVISOR_ENVIRONMENTS))
