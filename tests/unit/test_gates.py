"""Unit tests of the gates (sandkasten_py.sandbox.gates): processes waiting in a fresh cgroup for
the argv of the job they become. With real processes and, where the host has them, real cgroups
(root); without cgroups the same tests run on rlimits-only gates."""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandkasten_py.sandbox import setup_cgroups
from sandkasten_py.sandbox.cgroup import Cgroups
from sandkasten_py.sandbox.gates import Gate, GateError, GatePool, spawn_gate

CGROUP_ROOT = "/sys/fs/cgroup"
V1_PARENT = Path(CGROUP_ROOT, "memory", "sandkasten")
needs_cgroups = pytest.mark.skipif(os.geteuid() != 0 or not V1_PARENT.is_dir(),
                                   reason="needs root and the v1 parent cgroups of `make setup`")
MB = 1024 * 1024


@pytest.fixture
def cgroups() -> Iterator[Cgroups]:
    found = setup_cgroups(CGROUP_ROOT, "sandkasten")
    try:
        yield found
    finally:
        found.close()


def finish(gate: Gate) -> tuple[int, bytes, bytes]:
    """Wait for an opened gate's job; its exit code, stdout and stderr."""
    pipes = gate.pipes
    pipes.close_stdin()
    _, status = os.waitpid(gate.pid, 0)
    gate.reaped()
    out, err = read_all(pipes.stdout_r), read_all(pipes.stderr_r)
    return os.waitstatus_to_exitcode(status), out, err


def read_all(fd: int) -> bytes:
    chunks = []
    while select.select([fd], [], [], 10)[0] and (chunk := os.read(fd, 65536)):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("argument", ["plain", "two words", "it's \"quoted\"", "$(touch /tmp/x) `id`",
                                      "line\nbreak", "*", "", "-e", "ünïcödé", "\\\\back\\slash"])
def test_argv_arrives_unchanged(argument: str) -> None:
    """The argv is handed over NUL-separated and exec'd without a shell's word splitting,
    globbing or expansion: user-chosen arguments (`args`, file names) stay exactly as sent."""
    gate = spawn_gate(None)
    try:
        gate.open(["/usr/bin/printf", "[%s]", argument, "second"])
        code, out, err = finish(gate)
        assert (code, err) == (0, b"")
        assert out == f"[{argument}][second]".encode()
    finally:
        gate.discard()


def test_a_gate_whose_daemon_goes_away_runs_nothing() -> None:
    """End of file without an argv (the daemon died or discarded the gate): the gate exits."""
    gate = spawn_gate(None)
    try:
        gate.pipes.close_gate()
        code, out, err = finish(gate)
        assert (code, out, err) == (0, b"", b"")
    finally:
        gate.discard()


def test_discard_kills_a_waiting_gate() -> None:
    gate = spawn_gate(None)
    pid = gate.pid
    gate.discard()
    assert gate.pid == 0
    with pytest.raises(ChildProcessError):  # reaped already
        os.waitpid(pid, os.WNOHANG)


@needs_cgroups
def test_the_job_runs_in_the_gates_cgroup_from_its_first_instruction(cgroups: Cgroups) -> None:
    """The gate is in its cgroup (in every hierarchy) before it has an argv; the job it becomes
    is the same process, so nothing of the job runs outside."""
    gate = spawn_gate(cgroups)
    assert gate.cgroup is not None
    directories = list(gate.cgroup.directories.values())
    try:
        for directory in directories:
            assert (directory / "cgroup.procs").read_text().split() == [str(gate.pid)]
        gate.open(["/bin/cat", "/proc/self/cgroup"])
        code, out, _ = finish(gate)
        assert code == 0
        lines = out.decode().splitlines()
        for controller in ("memory", "pids", "cpuacct"):
            line = next(line for line in lines if controller in line.split(":")[1].split(","))
            assert line.endswith(f"/{gate.cgroup.directories[controller].name}"), line
    finally:
        gate.discard()
    assert not any(directory.exists() for directory in directories)


@needs_cgroups
def test_ready_gates_have_the_usual_limits_and_jobs_can_change_them(cgroups: Cgroups) -> None:
    """Raising the memory limit above the preset one must work too (v1 refuses a memory limit
    above the memory+swap limit, so the order of the writes matters)."""
    gate = spawn_gate(cgroups, (64 * MB, 10))
    assert gate.cgroup is not None
    memory = gate.cgroup.directories["memory"]
    pids = gate.cgroup.directories["pids"]
    try:
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 * MB
        assert (pids / "pids.max").read_text().strip() == "11"  # one more: nsjail
        for memory_bytes, processes in ((512 * MB, 20), (32 * MB, 5), (256 * MB, 64)):
            gate.limit(memory_bytes, processes)
            assert int((memory / "memory.limit_in_bytes").read_text()) == memory_bytes
            memsw = memory / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                assert int(memsw.read_text()) == memory_bytes
            assert (pids / "pids.max").read_text().strip() == str(processes + 1)
    finally:
        gate.discard()


@needs_cgroups
def test_the_pool_keeps_gates_ready_and_removes_them_when_closed(cgroups: Cgroups) -> None:
    async def test() -> None:
        pool = GatePool(cgroups, size=2)
        pool.refill()
        for _ in range(500):
            if len(pool._ready) == 2:
                break
            await asyncio.sleep(0.01)
        ready = list(pool._ready)
        assert len(ready) == 2
        taken = await pool.take()
        assert taken in ready
        for _ in range(500):  # replaced in the background
            if len(pool._ready) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(pool._ready) == 2
        waiting = [gate.cgroup for gate in pool._ready]
        await pool.close()
        assert not any(d.exists() for c in waiting if c is not None for d in c.directories.values())
        with pytest.raises(GateError):
            await pool.take()
        taken.open(["/bin/true"])
        assert finish(taken)[0] == 0
        await asyncio.to_thread(taken.discard)

    asyncio.run(test())


def test_an_empty_pool_makes_a_gate_on_demand() -> None:
    async def test() -> None:
        pool = GatePool(None, size=0)
        gate = await pool.take()
        try:
            gate.open(["/bin/echo", "made now"])
            assert finish(gate)[:2] == (0, b"made now\n")
        finally:
            gate.discard()
            await pool.close()

    asyncio.run(test())


def test_on_cgroup_v2_a_gate_is_placed_and_limited_in_its_own_directory(tmp_path: Path) -> None:
    """The v2 path, on an imitated unified hierarchy (this host has v1; real v2 files would also
    move the process): the gate's pid goes into `jobs/<id>/cgroup.procs` before it has an argv,
    the preset limits into memory.max and pids.max, and the job then runs."""
    delegated = tmp_path / "sandkasten.slice"
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    delegated.mkdir()
    (delegated / "cgroup.controllers").write_text("cpu memory pids\n")
    cgroups = setup_cgroups(str(tmp_path), "sandkasten",
                            proc_self_cgroup="0::/sandkasten.slice\n")
    assert cgroups.version == 2
    gate = spawn_gate(cgroups, (64 * MB, 10))
    try:
        assert gate.cgroup is not None
        directory = gate.cgroup.directories["memory"]
        assert directory.parent == delegated / "jobs"
        assert set(gate.cgroup.directories.values()) == {directory}
        assert (directory / "cgroup.procs").read_text() == str(gate.pid)
        assert (directory / "memory.max").read_text() == str(64 * MB)
        assert (directory / "pids.max").read_text() == "11"
        gate.limit(128 * MB, 10)
        assert (directory / "memory.max").read_text() == str(128 * MB)
        gate.open(["/bin/echo", "in v2"])
        assert finish(gate)[:2] == (0, b"in v2\n")
    finally:
        gate.pipes.close_all()
        gate.pid = 0  # reaped by finish; the imitated directory is not a real cgroup to remove
