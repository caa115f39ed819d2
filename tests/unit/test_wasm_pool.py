"""The pool of jailed WASI workers, with real nsjail: warm runs, limits inside the jail, and a
worker killed mid-job replaced with the job retried."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import threading
from collections.abc import Iterator

import msgspec
import pytest

from tests.conftest import ROOT, sandbox_missing

pytest.importorskip("wasmtime")

from sandkasten_py.config import load_config  # noqa: E402
from sandkasten_py.wasm.pool import WorkerPool, worker_setup  # noqa: E402
from tests.unit.wasi_jobs import LOOP, job  # noqa: E402

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(bool(sandbox_missing()), reason=sandbox_missing() or "")]

HELLO = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "hello from the jail\\n")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 20))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
BOMB = """(module (memory (export "memory") 1)
  (func (export "_start") (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"""


@pytest.fixture
def work_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sandkasten-pool-") as directory:
        os.chmod(directory, 0o711)
        yield directory


def with_pool(work_dir: str, size: int, scenario: object) -> None:
    config = load_config({"CONFIG_PATH": str(ROOT / "config.toml")})
    setup = worker_setup(config.nsjail_path or "nsjail", memory_mb=512)

    async def main() -> None:
        pool = WorkerPool(setup, size, os.path.join(work_dir, "pool"))
        await pool.start()
        try:
            await scenario(pool)  # type: ignore[operator]
        finally:
            await pool.close()

    asyncio.run(main())
    assert os.listdir(work_dir) == []


def test_warm_workers_run_jobs_within_their_limits(work_dir: str) -> None:
    async def scenario(pool: WorkerPool) -> None:
        hellos = await asyncio.gather(*(pool.run(job(HELLO)) for _ in range(6)))
        assert {(o.exit_code, o.stdout) for o in hellos} == {(0, b"hello from the jail\n")}
        looped = await pool.run(job(LOOP, time_s=0.3))
        assert (looped.exit_code, looped.exceeded) == (137, ["time"])
        bomb = await pool.run(job(BOMB, memory_bytes=32 * 1024 * 1024))
        assert bomb.exceeded == ["memory"] and bomb.memory_kb <= 32 * 1024
        assert pool.replaced == 0

    with_pool(work_dir, 2, scenario)


def test_a_worker_killed_mid_job_is_replaced_and_the_job_retried(work_dir: str) -> None:
    async def scenario(pool: WorkerPool) -> None:
        victim = next(w for w in pool._all if w is not pool._compiler)
        threading.Timer(0.5, os.kill, (victim.process.pid, signal.SIGKILL)).start()
        # One worker: the job lands on the victim, which dies; the replacement runs it again.
        outcome = await pool.run(job(LOOP, time_s=1.0))
        assert outcome.exceeded == ["time"] and pool.replaced == 1
        assert (await pool.run(job(HELLO))).exit_code == 0

    with_pool(work_dir, 1, scenario)


def test_a_module_is_sent_once_per_worker_and_compiled_by_the_compiling_worker(work_dir: str) -> None:
    async def scenario(pool: WorkerPool) -> None:
        first = job(HELLO)
        assert (await pool.run(first)).module_kept
        worker = next(w for w in pool._all if first.module_key in w.modules)
        assert list(worker.modules) == [first.module_key]
        # The worker keeps it: the pool leaves the bytes out, and the run is the same.
        runs = await asyncio.gather(*(pool.run(job(HELLO)) for _ in range(4)))
        assert {o.stdout for o in runs} == {b"hello from the jail\n"}
        # A module compiled by the compiling worker runs on a worker from those bytes alone.
        compiled = await pool.compile(first.module)
        assert compiled.error == "" and compiled.serialized
        loop = job(LOOP, time_s=0.2)
        loaded = await pool.run(msgspec.structs.replace(loop, module=b"", compiled=(await pool.compile(loop.module)).serialized))
        assert loaded.exceeded == ["time"] and loaded.module_kept
        refused = await pool.compile(b"\0asm\x01\0\0\0\x01")
        assert refused.serialized == b"" and refused.error
        assert pool.replaced == 0

    with_pool(work_dir, 2, scenario)
