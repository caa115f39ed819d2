"""The soak of bench/soak.py, smaller: 300 mixed requests against a daemon of its own, then no
5xx, no unexpected outcome, nothing left behind, and bounded memory growth of the daemon.

The detectors the soak relies on are tested too, on leftovers made on purpose, so that a soak
that finds nothing has looked.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SOAK_REQUESTS = 300
MAX_RSS_GROWTH_MB = 100  # generous: the daemon grows by about 1 MB over 2,000 requests
POLL_DEADLINE_S = 10


def load_soak() -> ModuleType:
    """bench/soak.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("sandkasten_bench_soak", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


soak = load_soak()


@pytest.fixture(scope="module", autouse=True)
def _needs_the_sandbox() -> None:
    reason = soak.sandbox_missing()
    if reason:
        pytest.skip(reason)


def test_soak_leaves_nothing_behind() -> None:
    report = soak.run_soak(SOAK_REQUESTS, concurrency=8, seed=1)
    print(report.render())
    assert report.failures() == [], report.render()
    assert report.server_errors == 0 and report.no_response == [] and report.unexpected == []
    environments = {k for k in report.outcomes if k.startswith("hello_")}
    assert {"hello_python", "hello_bash", "hello_c"} <= environments, report.outcomes
    assert set(report.outcomes) >= {
        "cached_run", "new_build", "compile_error", "unprocessable", "not_found", "limits_exceeded",
        "invalid_names", "fork_bomb", "memory_bomb", "stdout_flood", "endless_loop", "many_files",
        "orphans"}, report.outcomes
    assert sum(sum(c.values()) for c in report.outcomes.values()) == SOAK_REQUESTS
    assert report.rss_kb["samples"] >= 2, report.rss_kb
    assert report.rss_growth_mb < MAX_RSS_GROWTH_MB, report.render()
    assert (report.rss_kb["max"] - report.rss_kb["start"]) / 1024 < MAX_RSS_GROWTH_MB, report.render()


# ------------------------------------------------------------------------------------ detectors


def test_detects_a_leftover_nobody_process() -> None:
    marker = f"soak-{uuid.uuid4()}"
    sleeper = subprocess.Popen(["sleep", "300"], env={soak.MARKER_VARIABLE: marker},
                               user=soak.NOBODY, group=soak.NOBODY, extra_groups=[])
    try:
        deadline = time.monotonic() + POLL_DEADLINE_S
        while not (found := soak.nobody_processes(marker, daemon_pid=0)):
            assert time.monotonic() < deadline, "the nobody process was not seen"
            time.sleep(0.01)  # poll interval
        assert found == [f"pid {sleeper.pid}: sleep 300"]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert soak.nobody_processes(marker, daemon_pid=0) == []


def test_detects_a_leftover_mount() -> None:
    with tempfile.TemporaryDirectory(prefix="sandkasten-soak-mount-") as top:
        target = Path(top) / "jobs" / "x"
        target.mkdir(parents=True)
        assert soak.mounts_under(Path(top) / "jobs") == []
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "soaktest", str(target)], check=True)
        try:
            found = soak.mounts_under(Path(top) / "programs", Path(top) / "jobs")
            assert len(found) == 1 and str(target) in found[0], found
        finally:
            subprocess.run(["umount", str(target)], check=True)
        assert soak.mounts_under(Path(top) / "jobs") == []


@pytest.fixture
def fake_daemon_cgroups() -> Iterator[int]:
    """Job cgroup directories of a daemon pid no process can have (above pid_max)."""
    if not (soak.CGROUP_ROOT / "memory" / soak.CGROUP_PARENT).is_dir():
        pytest.skip("no v1 cgroup parent")
    pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1 + os.getpid()
    made = []
    try:
        for directory in soak.daemon_cgroup_dirs(pid):
            job = directory / f"job-{uuid.uuid4().hex[:8]}"
            job.mkdir(parents=True)
            made += [job, directory]
        yield pid
    finally:
        for directory in made:  # the job first, then the daemon's directory
            if directory.exists():
                directory.rmdir()


def test_detects_leftover_job_cgroups(fake_daemon_cgroups: int) -> None:
    found = soak.job_cgroups(fake_daemon_cgroups)
    assert sorted(Path(f).parent.parent.parent.name for f in found) == sorted(soak.CGROUP_CONTROLLERS)
    assert all(f"/daemon-{fake_daemon_cgroups}/job-" in f for f in found), found
