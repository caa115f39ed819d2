"""The daemon's own directories under attack and after accidents (catalogue RES-07, FS-02, API-07).

* Deleting a huge tree (100,000 files and a 5,000-level tree) never holds up other requests,
  and never recurses: it used to run on the event loop (4 s of silence for 300,000 files) and
  to die with RecursionError at 1,000 levels, which also killed the pruner for good.
* A restart removes what an earlier run left: half-deleted programs, job directories, mounts.
* Two daemons never share a programs or jobs directory: the second refuses to start, naming the
  directory and the pid of the first (they used to empty each other's jobs directory and prune
  each other's programs).
* Run steps: whatever a job leaves in its /tmp (deep trees, many files) is gone after it.

Trees are planted directly (the test runs as root), as a compile step or a crash could have
left them; the daemon is driven over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandkasten_py.sandbox import tmpfs
from tests.conftest import ENVIRONMENTS, ROOT, free_port, settled
from tests.security.jobs import run

pytestmark = pytest.mark.sandbox

DELETE_DEADLINE_S = 180
# A generous safety bound, not a benchmark: the largest gap between two answers while the tree
# is deleted. Deleting on the event loop left every request waiting for seconds.
MAX_STALL_S = 1.0


def plant_tree(top: Path, files: int, depth: int) -> None:
    """`files` empty files in `top/wide` and a chain of `depth` directories in `top/deep`."""
    (top / "wide").mkdir(parents=True)
    for i in range(files):
        (top / "wide" / str(i)).touch()
    (top / "deep").mkdir()
    fd = os.open(top / "deep", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sandkasten-hostdirs-") as directory:
        os.chmod(directory, 0o711)
        yield Path(directory)
        for point in tmpfs.mounts_below(directory):
            tmpfs.unmount(point)


@pytest.mark.catalogue("RES-07", "API-07")
def test_deleting_100000_files_and_a_5000_level_tree_does_not_stall_other_requests(
        daemon_factory: Any, workdir: Path) -> None:
    """An expired program holding the tree is pruned while a client keeps asking GET /config."""
    daemon = daemon_factory(PROGRAM_TTL="1", PRUNE_PROGRAMS_INTERVAL="1")
    program_id = str(uuid.uuid4())
    staged = workdir / program_id
    plant_tree(staged / "files", files=100_000, depth=5000)
    (staged / "last_run").write_text(str(int(time.time()) - 3600))
    (staged / "ok").touch()
    gaps: list[float] = []
    done = threading.Event()

    def ask() -> None:
        last = time.monotonic()
        with requests.Session() as session:
            while not done.is_set():
                assert session.get(daemon.url + "/config", timeout=30).status_code == 200
                now = time.monotonic()
                gaps.append(now - last)
                last = now

    client = threading.Thread(target=ask)
    client.start()
    try:
        os.rename(staged, daemon.programs_dir / program_id)  # appears whole, like a real program
        deadline = time.monotonic() + DELETE_DEADLINE_S
        while (daemon.programs_dir / program_id).exists() or any(
                name.startswith(".trash-") for name in os.listdir(daemon.programs_dir)):
            assert time.monotonic() < deadline, "the tree was not deleted"
            time.sleep(0.05)
    finally:
        done.set()
        client.join()
    assert len(gaps) > 10, gaps
    assert max(gaps) < MAX_STALL_S, f"longest wait for an answer: {max(gaps):.2f} s"
    assert "Traceback" not in daemon.log()
    # the pruner is alive: a program built now expires too
    response = daemon.post("/programs", json={"environment": "python", "main_file": {"content": "1"}})
    assert response.status_code == 201
    new = daemon.programs_dir / response.json()["program_id"]
    deadline = time.monotonic() + 30
    while new.exists():
        assert time.monotonic() < deadline, "the pruner stopped"
        time.sleep(0.1)


@pytest.mark.catalogue("FS-02", "API-07")
def test_a_restart_removes_what_an_earlier_run_left(daemon_factory: Any, workdir: Path) -> None:
    """Half-deleted and half-built programs, job directories with trees and mounted tmpfs."""
    programs, jobs = workdir / "programs", workdir / "jobs"
    programs.mkdir(mode=0o711)
    jobs.mkdir(mode=0o711)
    plant_tree(programs / f".trash-{uuid.uuid4().hex}", files=1000, depth=2000)
    plant_tree(programs / f".build-{uuid.uuid4().hex}", files=10, depth=10)
    half_deleted = programs / str(uuid.uuid4())
    plant_tree(half_deleted / "files", files=10, depth=1500)  # no `ok`, no `last_run` any more
    kept = programs / str(uuid.uuid4())
    (kept / "files").mkdir(parents=True)
    (kept / "last_run").write_text(str(int(time.time())))
    (kept / "ok").touch()
    crashed = jobs / uuid.uuid4().hex
    plant_tree(crashed / "box", files=10, depth=3000)
    (crashed / "tmp").mkdir()
    tmpfs.mount_tmpfs(str(crashed / "tmp"), size_bytes=1_000_000, inodes=100)
    (crashed / "tmp" / "left").write_bytes(b"x")
    daemon = daemon_factory(PROGRAMS_DIR=str(programs), JOBS_DIR=str(jobs))
    try:
        deadline = time.monotonic() + 60
        expected = sorted([".cache", ".key", ".lock", kept.name])
        while sorted(os.listdir(programs)) != expected or os.listdir(jobs) != [".lock"]:
            assert time.monotonic() < deadline, (os.listdir(programs), os.listdir(jobs))
            time.sleep(0.1)
        assert tmpfs.mounts_below(str(jobs)) == []
        assert daemon.get("/config").status_code == 200
    finally:
        daemon.stop()


def serve(programs: Path, jobs: Path) -> subprocess.CompletedProcess[str]:
    """Start a second daemon on these directories; it must give up at once."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONFIG_PATH": str(ROOT / "config.toml"),
           "HOST": "127.0.0.1", "PORT": str(free_port()), "PROGRAMS_DIR": str(programs),
           "JOBS_DIR": str(jobs), "ENVIRONMENTS_PATH": str(ENVIRONMENTS)}
    return subprocess.run([sys.executable, "-m", "sandkasten_py", "serve"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.catalogue("API-07")
def test_a_second_daemon_on_the_same_directories_refuses_to_start(daemon_factory: Any, workdir: Path) -> None:
    first = daemon_factory()
    program = run(first, "python", f"print('{uuid.uuid4()}')")  # the first has a program
    assert program["status"] == 0
    before = sorted(os.listdir(first.programs_dir))
    for programs, jobs, taken in [(first.programs_dir, first.jobs_dir, first.programs_dir),
                                  (workdir / "programs", first.jobs_dir, first.jobs_dir),
                                  (first.programs_dir, workdir / "jobs", first.programs_dir)]:
        second = serve(programs, jobs)
        assert second.returncode == 2, second.stderr
        assert (f"sandkasten: {taken} is in use by another sandkasten daemon (pid {first.process.pid}); "
                "give each daemon its own programs_dir and jobs_dir") in second.stderr, second.stderr
        assert "Running on" not in second.stderr
    assert sorted(os.listdir(first.programs_dir)) == before
    assert first.get("/config").status_code == 200


@pytest.mark.catalogue("RES-07")
def test_a_run_step_leaves_nothing_of_a_deep_tree_and_many_files_in_tmp(daemon: Any) -> None:
    code = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY), levels = 0, files = 0;
    for (; levels < 5000; levels++) {
        if (mkdirat(dir, "d", 0755) != 0) break;
        int child = openat(dir, "d", O_RDONLY | O_DIRECTORY);
        close(dir);
        dir = child;
    }
    for (; files < 100000; files++) {
        char name[16];
        snprintf(name, sizeof name, "%d", files);
        int fd = openat(dir, name, O_WRONLY | O_CREAT, 0644);
        if (fd < 0) break;
        close(fd);
    }
    printf("%d %d\n", levels, files);
    return 0;
}
"""
    result = run(daemon, "c", code, run_limits={"time": 10})
    levels, files = map(int, result["stdout"].split())
    # /tmp holds storage_limits.tmp_files (10,000) files and directories, its root included
    assert (levels, levels + files) == (5000, 10000), result
    assert settled(lambda: sorted(os.listdir(daemon.jobs_dir)), [".lock"]) == [".lock"]
    assert settled(lambda: tmpfs.mounts_below(str(daemon.jobs_dir)), []) == []
