"""The WASM cases of the catalogue, against environment `wasmtime` through the daemon: modules
that loop, grow, recurse, import what is not there or look for files outside their directory,
and a worker killed in the middle of a job. Each module runs in a jailed worker (see
sandkasten_py/wasm/pool.py); here the wasm sandbox itself is the one under test."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandkasten_py.sandbox.processes import child_pids

pytestmark = pytest.mark.sandbox


def run(daemon: Any, name: str, content: str, **run_: Any) -> dict[str, Any]:
    main_file = {"name": name, "content": content}
    response = daemon.post("/run", json={"build": {"environment": "wasmtime", "main_file": main_file},
                                         "run": run_})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["run"]
    return result


def still_works(daemon: Any) -> None:
    """The worker pool answers the next job normally."""
    result = run(daemon, "ok.c", '#include <stdio.h>\nint main(void) { puts("fine"); }\n')
    assert (result["status"], result["stdout"]) == (0, "fine\n")


@pytest.mark.catalogue("WASM-01")
def test_an_endless_loop_ends_at_the_time_limit(daemon: Any) -> None:
    started = time.monotonic()
    result = run(daemon, "loop.c", "int main(void) { for (;;) {} }\n", run_limits={"time": 1})
    assert result["exceeded"] == ["time"] and result["status"] == 137
    assert time.monotonic() - started < 10
    still_works(daemon)


@pytest.mark.catalogue("WASM-02")
def test_memory_and_tables_cannot_grow_past_their_limits(daemon: Any) -> None:
    # memory.grow and table.grow answer -1 when refused; the module then exits 0 (not 1 or a trap).
    grow = """(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory 1) (table $t 1 funcref)
      (func (export "_start")
        (if (i32.ne (memory.grow (i32.const 65535)) (i32.const -1)) (then (call $exit (i32.const 1))))
        (if (i32.ne (table.grow $t (ref.null func) (i32.const 200000)) (i32.const -1))
          (then (call $exit (i32.const 2))))))"""
    result = run(daemon, "grow.wat", grow, run_limits={"memory": 64})
    assert result["status"] == 0, result
    # A module that asks for more memory than the limit to start with does not start.
    big = '(module (memory (export "memory") 4000) (func (export "_start")))'
    result = run(daemon, "big.wat", big, run_limits={"memory": 64})
    assert result["exceeded"] == ["memory"] and result["status"] == 137
    assert "exceeds memory limits" in result["stderr"]
    still_works(daemon)


@pytest.mark.catalogue("WASM-03")
def test_unbounded_recursion_traps_with_the_host_intact(daemon: Any) -> None:
    # (In C, clang makes a loop of most such recursions.)
    result = run(daemon, "deep.wat", '(module (func $f (export "_start") (call $f)))')
    assert result["status"] == 134 and "stack overflow" in result["stderr"], result
    still_works(daemon)


@pytest.mark.catalogue("WASM-04")
def test_malformed_and_oversized_modules_are_refused(daemon: Any) -> None:
    garbage = base64.b64encode(b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f").decode()
    response = daemon.post("/programs", json={"environment": "wasmtime", "main_file": {
        "name": "bad.wasm", "content": garbage, "encoding": "base64"}})
    assert response.status_code == 400 and response.json()["error"] == "compile_error", response.text
    # A data segment far beyond the memory it initialises: refused when instantiated.
    huge = '(module (memory 1) (data (i32.const 1000000000) "x") (func (export "_start")))'
    result = run(daemon, "huge.wat", huge)
    assert result["status"] != 0 and "out of bounds" in result["stderr"], result
    # A module without a _start is not a command.
    result = run(daemon, "lib.wat", '(module (func (export "add") (param i32 i32) (result i32) local.get 0))')
    assert result["status"] == 1 and "_start" in result["stderr"]
    # What is not provided is refused when linking, before any of the module runs.
    result = run(daemon, "import.wat", '(module (import "env" "host_call" (func)) (func (export "_start")))')
    assert result["status"] == 1 and "unknown import" in result["stderr"], result
    still_works(daemon)


ESCAPES = r"""
#include <stdio.h>
#include <unistd.h>
static void try_open(const char *path) { printf("%s %s\n", path, fopen(path, "r") ? "OPEN" : "refused"); }
int main(void) {
    try_open("own.txt");
    try_open("/etc/passwd");
    try_open("../etc/passwd");
    try_open("./../../../../etc/passwd");
    try_open("/proc/self/environ");
    printf("symlink %d\n", symlink("/etc", "etc"));
    try_open("etc/passwd");
    printf("symlink up %d\n", symlink("..", "up"));
    try_open("up/up/etc/passwd");
    return 0;
}
"""


@pytest.mark.catalogue("WASM-05")
def test_nothing_outside_the_preopened_directory_is_reachable(daemon: Any) -> None:
    result = run(daemon, "escape.c", ESCAPES, files=[{"name": "own.txt", "content": "mine"}])
    lines = result["stdout"].splitlines()
    assert lines[0] == "own.txt OPEN", result
    opened = [line for line in lines[1:] if line.endswith("OPEN")]
    assert opened == [], result


def worker_pids(daemon_pid: int) -> list[int]:
    """The Python processes of the daemon's WASI workers (inside their nsjails)."""
    def argv(pid: int) -> bytes:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read()
        except OSError:
            return b""

    jails = [pid for pid in child_pids(daemon_pid) if b"sandkasten_py.wasm.worker" in argv(pid)]
    return [child for jail in jails for child in child_pids(jail)]


def test_a_worker_killed_mid_job_does_not_hang_the_request(daemon_factory: Callable[..., Any]) -> None:
    """Every worker is killed while a job runs: its job is retried on a replacement and answered,
    and the compiling worker is replaced for the next build."""
    own = daemon_factory()
    still_works(own)
    victims = worker_pids(own.process.pid)
    assert len(victims) == 3, victims  # two that run jobs, one that compiles

    def kill_all() -> None:
        for pid in victims:
            os.kill(pid, signal.SIGKILL)

    threading.Timer(0.5, kill_all).start()
    started = time.monotonic()
    result = run(own, "loop.wat", '(module (func (export "_start") (loop br 0)))', run_limits={"time": 2})
    assert result["exceeded"] == ["time"], result
    assert time.monotonic() - started < 30
    still_works(own)
    # A new build: its module is compiled by the killed compiling worker's replacement.
    fresh = run(own, "fresh.c", '#include <stdio.h>\nint main(void) { puts("fresh"); }\n')
    assert fresh["stdout"] == "fresh\n"
    assert "the compiling WASI worker failed" in own.log()
    assert "replacing it" in own.log()
    assert not set(victims) & set(worker_pids(own.process.pid))


@pytest.mark.catalogue("WASM-06")
def test_a_forged_compiled_module_in_the_cache_is_never_loaded(daemon_factory: Callable[..., Any]) -> None:
    """A compiled module is native code: one put in the daemon's module cache by anyone else (here
    a real module of the same engine that prints something else, with a made-up tag) is deleted
    and the program compiled again, never loaded."""
    from sandkasten_py.wasm.execute import Executor
    from sandkasten_py.wasm.modules import TAG_BYTES

    first = daemon_factory()
    body = {"environment": "wasmtime", "main_file": {"name": "honest.c",
                                                     "content": '#include <stdio.h>\nint main(void) { puts("honest"); }\n'}}
    program_id = first.post("/programs", json=body).json()["program_id"]
    cache = first.programs_dir / ".cache" / "wasm"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    [entry] = list(cache.iterdir())  # compiled when it was built
    first.stop()

    executor = Executor()
    try:
        evil = executor.serialize(bytes(wasmtime_text_to_binary(PRINT_FORGED)))
    finally:
        executor.close()
    entry.write_bytes(bytes(TAG_BYTES) + evil)
    second = daemon_factory(PROGRAMS_DIR=str(first.programs_dir))
    result = second.post(f"/programs/{program_id}/run", json={}).json()
    assert (result["status"], result["stdout"]) == (0, "honest\n"), result
    assert "has no valid tag: deleted, not loaded" in second.log()
    assert entry.read_bytes()[TAG_BYTES:] != evil  # compiled again, and tagged by the daemon


PRINT_FORGED = """(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "forged\\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 7))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def wasmtime_text_to_binary(text: str) -> bytes:
    import wasmtime
    return bytes(wasmtime.wat2wasm(text))


def test_each_worker_has_a_memory_cgroup_of_its_own(daemon: Any) -> None:
    """Every worker (nsjail and the Python in it) sits in its own cgroup, limited in memory (the
    run limit and a margin for wasmtime and Python) and in processes."""
    still_works(daemon)
    workers = worker_pids(daemon.process.pid)
    assert len(workers) == 3, workers
    groups = set()
    for pid in workers:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = dict(line.strip().split(":", 2)[1:] for line in f if line.strip())
        memory = lines.get("memory") or lines[""]  # v1 names the controller; v2 has one hierarchy
        assert "/wasm-" in memory, lines
        groups.add(memory)
    assert len(groups) == 3  # one each
    root = "/sys/fs/cgroup/memory" if os.path.isdir("/sys/fs/cgroup/memory") else "/sys/fs/cgroup"
    limit_file = "memory.limit_in_bytes" if root.endswith("memory") else "memory.max"
    for group in groups:
        with open(f"{root}{group}/{limit_file}") as f:
            assert int(f.read()) == (256 + 1024) * 1_000_000  # run_limits.memory + the margin
