"""The WASI worker process and its protocol, without the jail: a subprocess of the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("wasmtime")

from sandkasten_py.wasm.protocol import (  # noqa: E402
    MAX_FRAME, Job, Outcome, ProtocolError, Ready, read_message, write_message,
)
from tests.unit.wasi_jobs import LOOP, job  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HELLO_FILE = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "name.txt")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 8)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)))
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $r (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "sandkasten_py.wasm.worker"], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None
    ready = read_message(process.stdout.fileno())
    assert isinstance(ready, Ready) and ready.wasmtime_version[0].isdigit()
    yield process
    process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def ask(worker: subprocess.Popen[bytes], message: Job) -> Outcome:
    assert worker.stdin is not None and worker.stdout is not None
    write_message(worker.stdin.fileno(), message)
    answer = read_message(worker.stdout.fileno())
    assert isinstance(answer, Outcome)
    return answer


def test_jobs_one_after_another_each_in_a_fresh_directory(worker: subprocess.Popen[bytes], tmp_path: Path) -> None:
    first = ask(worker, job(HELLO_FILE, files=[("name.txt", b"first\n")]))
    second = ask(worker, job(HELLO_FILE, files=[("name.txt", b"second\n")]))
    assert (first.exit_code, first.stdout) == (0, b"first\n")
    assert (second.exit_code, second.stdout) == (0, b"second\n")
    looped = ask(worker, job(LOOP, time_s=0.2))
    assert looped.exceeded == ["time"]
    # Every job's directory is gone; what is left is the worker's own (the streams' files).
    [scratch] = tmp_path.iterdir()
    assert sorted(p.name for p in scratch.iterdir()) == [".stderr", ".stdin", ".stdout"]


def test_a_worker_killed_mid_job_is_a_protocol_error_not_a_hang(worker: subprocess.Popen[bytes]) -> None:
    assert worker.stdin is not None and worker.stdout is not None
    write_message(worker.stdin.fileno(), job(LOOP, time_s=60))
    threading.Timer(0.3, worker.send_signal, (signal.SIGKILL,)).start()
    with pytest.raises(ProtocolError):
        read_message(worker.stdout.fileno())


def test_the_worker_leaves_at_end_of_file_or_garbage(worker: subprocess.Popen[bytes]) -> None:
    assert worker.stdin is not None
    os.write(worker.stdin.fileno(), b"\x00\x00\x00\x03abc")
    assert worker.wait(timeout=10) == 0


def test_frames_are_bounded() -> None:
    read, write = os.pipe()
    try:
        os.write(write, (MAX_FRAME + 1).to_bytes(4, "big"))
        with pytest.raises(ProtocolError, match="larger than"):
            read_message(read)
    finally:
        os.close(read)
        os.close(write)
