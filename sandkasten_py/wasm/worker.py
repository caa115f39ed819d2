"""A WASI worker: `python -m sandkasten_py.wasm.worker`, run by the daemon inside nsjail.

It imports wasmtime once, says `Ready`, then answers one message after another (protocol.py) on
fd 0 and 1: a `Compile` with the module compiled (for the daemon's module cache; a worker that
compiles runs no guest code), a `Job` by running it in a fresh working directory under `$TMPDIR`
(the jail's own `/tmp`) holding the job's files, removed afterwards. Guest output goes to files (execute.py), never to fd 1, which
carries only frames. At end of file on fd 0 (the daemon went away) it exits.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from sandkasten_py import safefs
from sandkasten_py.wasm.execute import Executor, WasiJob, wasmtime_version
from sandkasten_py.wasm.protocol import (Compile, Compiled, Job, Outcome, ProtocolError, Ready, read_message,
                                         write_message)


def serve(requests: int, answers: int) -> None:
    """Answer jobs from `requests` on `answers` until end of file."""
    executor = Executor()
    scratch = tempfile.mkdtemp(prefix="worker-")
    write_message(answers, Ready(wasmtime_version=wasmtime_version(), engine=executor.settings))
    while True:
        try:
            message = read_message(requests)
        except ProtocolError:
            return
        if isinstance(message, Job):
            write_message(answers, run(executor, message, scratch))
        elif isinstance(message, Compile):
            write_message(answers, compile_module(executor, message))
        else:
            return


def compile_module(executor: Executor, request: Compile) -> Compiled:
    try:
        return Compiled(serialized=executor.serialize(request.module), error="")
    except Exception as e:  # an invalid module: its run reports why
        return Compiled(serialized=b"", error=str(e))


def run(executor: Executor, job: Job, scratch: str | None = None) -> Outcome:
    """Run `job` with its files in `box/` (and the program's in `program/`) of `scratch`, the
    worker's own directory (made when None), removed afterwards; the streams' files stay there
    for the next job (each job's replace them: not removing them saves time)."""
    if scratch is None:
        scratch = tempfile.mkdtemp(prefix="worker-")
    box = os.path.join(scratch, "box")
    program = os.path.join(scratch, "program") if job.program_files else None
    try:
        try:
            os.mkdir(box, 0o700)
        except FileExistsError:  # an earlier job's that could not be removed
            shutil.rmtree(box)
            os.mkdir(box, 0o700)
        safefs.write_files(box, job.files)
        if program is not None:
            os.mkdir(program, 0o700)
            safefs.write_files(program, job.program_files, mode=0o444)
        outcome = executor.run(WasiJob(
            module=job.module, module_key=job.module_key, compiled=job.compiled, directory=box,
            program_directory=program, args=tuple(job.args), env=tuple((name, value) for name, value in job.env),
            stdin=job.stdin, time_s=job.time_s, memory_bytes=job.memory_bytes, fuel=job.fuel,
            stdout_max=job.stdout_max, stderr_max=job.stderr_max))
    finally:
        for directory in (box, program):
            if directory is not None:
                _remove(directory)
    return Outcome(exit_code=outcome.exit_code, stdout=outcome.stdout, stderr=outcome.stderr,
                   exceeded=outcome.exceeded, wall_time_ms=outcome.wall_time_ms, memory_kb=outcome.memory_kb,
                   module_kept=executor.keeps(job.module_key))


def _remove(directory: str) -> None:
    try:
        os.rmdir(directory)  # most jobs leave their directory empty: one call
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.stdin.fileno(), sys.stdout.fileno())
