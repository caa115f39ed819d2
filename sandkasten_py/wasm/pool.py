"""A pool of warm WASI workers, each a `python -m sandkasten_py.wasm.worker` inside its own nsjail.

A worker is started once (about 0.15 s: the jail, Python, `import wasmtime`) and then runs one job
after another, so a hot run costs a pipe round trip and the run itself (about 1 ms). Each worker
is jailed like any job: nobody, the seccomp policy, no network, its own `/tmp` tmpfs, and an
address-space limit (`memory_mb`; wasmtime's reservations are sized to fit, see execute.py). The
daemon only ever sends bytes and reads framed answers; guest code never runs in its process.

A worker that dies, breaks the protocol or does not answer in time is killed and replaced, and
its job is tried once more on another worker; a second failure is a SandboxError (an internal
error), never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandkasten_py.sandbox import JobLimits, JobSpec, Mount, SandboxError, tmpfs
from sandkasten_py.sandbox.argv import nsjail_argv
from sandkasten_py.sandbox.reach import closed_to_jobs
from sandkasten_py.wasm.protocol import Job, Outcome, ProtocolError, Ready, read_message, write_message

log = logging.getLogger(__name__)

ANSWER_MARGIN_S = 5.0
"""How much longer than a job's time limit a worker may take to answer before it is replaced."""
START_TIMEOUT_S = 30.0
JAIL_LIBRARY = "/sandkasten/lib"
"""Where a worker finds the packages it imports, inside its jail."""
STOP_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class WorkerSetup:
    """How to start a worker: its Python, the paths it imports from, and its limits."""

    nsjail: str
    python: str
    python_path: tuple[str, ...]
    mounts: tuple[Mount, ...]
    memory_mb: int = 1024
    tmp_mb: int = 64
    processes: int = 16


def worker_setup(nsjail: str, *, memory_mb: int = 1024, tmp_mb: int = 64) -> WorkerSetup:
    """A setup with this process's Python, or a system Python of the same version when its own
    lies where the jail's user cannot reach (pyenv under /root), and the packages the worker
    imports (sandkasten_py, wasmtime, msgspec)."""
    import msgspec
    import wasmtime

    import sandkasten_py

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = os.path.realpath(sys.executable)
    prefixes = [sys.base_prefix]
    if closed_to_jobs(os.path.dirname(python)) is not None:
        system = shutil.which(version, path="/usr/bin:/usr/local/bin")
        if system is None:
            raise SandboxError(f"no {version} that the jail's user can run (this one is {python})")
        python, prefixes = os.path.realpath(system), []
    # Exactly the three packages, each mounted read-only under one directory of the jail's own:
    # not the directories they come from (a source tree, a virtualenv, site-packages).
    packages = tuple(Mount(str(Path(module.__file__ or "").resolve().parent), f"{JAIL_LIBRARY}/{module.__name__}")
                     for module in (sandkasten_py, wasmtime, msgspec))
    system_dirs = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/bin"]
    mounts = packages + tuple(Mount(path, path) for path in dict.fromkeys([*prefixes, *system_dirs])
                              if os.path.isdir(path))
    return WorkerSetup(nsjail=nsjail, python=python, python_path=(JAIL_LIBRARY,), mounts=mounts, memory_mb=memory_mb,
                       tmp_mb=tmp_mb)


class Worker:
    """One jailed worker process and its directories."""

    def __init__(self, setup: WorkerSetup, directory: str) -> None:
        self.directory = directory
        box, program, tmp = (os.path.join(directory, name) for name in ("box", "program", "tmp"))
        for path in (box, program):
            os.mkdir(path, 0o755)
        os.mkdir(tmp, 0o700)
        tmpfs.mount_tmpfs(tmp, size_bytes=setup.tmp_mb * 1_000_000, inodes=10_000)
        self._tmp = tmp
        limits = JobLimits(cpus=1, time=10**6, memory=setup.memory_mb, tmpfs=setup.tmp_mb, filesize=setup.tmp_mb,
                           file_descriptors=64, processes=setup.processes, stdout_max_size=0,
                           stderr_max_size=0, network=False)
        argv = nsjail_argv(setup.nsjail, JobSpec(
            argv=(setup.python, "-s", "-m", "sandkasten_py.wasm.worker"),  # -s: no user site-packages
            box_dir=box, program_dir=program, program_writable=False, tmp_dir=tmp, mounts=setup.mounts,
            env=(("PYTHONPATH", ":".join(setup.python_path)), ("TMPDIR", "/tmp"), ("PYTHONDONTWRITEBYTECODE", "1")),
            limits=limits), use_cgroup=False)
        log_at = argv.index("--log_fd")
        argv[log_at + 1] = "2"  # nsjail's warnings on the worker's stderr, which goes to our log
        # stderr: nsjail's warnings and the worker's own (a Python traceback) go to the daemon's log.
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._requests = self.process.stdin.fileno()
        self._answers = self.process.stdout.fileno()
        try:
            ready = self._read(START_TIMEOUT_S)
            if not isinstance(ready, Ready):
                raise ProtocolError("the worker did not say it was ready")
        except BaseException:
            self.close()
            raise
        self.wasmtime_version = ready.wasmtime_version

    def ask(self, job: Job) -> Outcome:
        """Run a job (blocking); ProtocolError if the worker fails."""
        write_message(self._requests, job)
        answer = self._read(job.time_s + ANSWER_MARGIN_S)
        if not isinstance(answer, Outcome):
            raise ProtocolError("the worker answered with something else than an outcome")
        return answer

    def _read(self, timeout: float) -> Ready | Job | Outcome:
        readable, _, _ = select.select([self._answers], [], [], timeout)
        if not readable:
            raise ProtocolError(f"the worker did not answer within {timeout:g} s")
        return read_message(self._answers)

    def close(self) -> None:
        """End the worker and remove its directories: end of file first (it leaves by itself),
        then SIGTERM (nsjail kills what it runs), then SIGKILL."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        for stop in (None, self.process.terminate, self.process.kill):
            if stop is not None:
                stop()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process.stdout.close()
        tmpfs.unmount(self._tmp)
        shutil.rmtree(self.directory, ignore_errors=True)


class _NoJob(Exception):
    """`make_job` failed (its error is the cause): not the worker's fault."""


class WorkerPool:
    """`size` warm workers; a job takes an idle one, waiting if all are busy."""

    def __init__(self, setup: WorkerSetup, size: int, parent_dir: str) -> None:
        self.setup = setup
        self.size = size
        self.parent_dir = parent_dir
        self.work_dir = ""
        """A directory of this pool's own in `parent_dir`, made by `start`, removed by `close`
        (a fresh name each time: what an earlier daemon left there is removed meanwhile)."""
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._all: set[Worker] = set()
        self.replaced = 0

    async def start(self) -> None:
        self.work_dir = tempfile.mkdtemp(prefix="wasm-workers-", dir=self.parent_dir)
        os.chmod(self.work_dir, 0o711)
        workers = await asyncio.gather(*(asyncio.to_thread(self._spawn) for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)

    def _spawn(self) -> Worker:
        directory = tempfile.mkdtemp(prefix="worker-", dir=self.work_dir)
        os.chmod(directory, 0o711)  # the jail's user passes through to the mounted directories
        worker = Worker(self.setup, directory)
        self._all.add(worker)
        return worker

    async def run(self, job: Job) -> Outcome:
        """Run `job` on a worker, once more on another if the first one fails."""
        return await self.run_with(lambda: job)

    async def run_with(self, make_job: Callable[[], Job]) -> Outcome:
        """Run the job `make_job` makes on a worker, once more on another if the first one
        fails. `make_job` runs in the same thread as the exchange with the worker (it may read
        files: one hop off the event loop, not two); its own errors are raised as they are."""
        made: list[Job] = []

        def exchange(worker: Worker) -> Outcome:
            if not made:
                try:
                    made.append(make_job())
                except BaseException as e:
                    raise _NoJob() from e
            return worker.ask(made[0])

        for attempt in (1, 2):
            worker = await self._idle.get()
            try:
                outcome = await asyncio.to_thread(exchange, worker)
            except _NoJob as e:
                self._idle.put_nowait(worker)
                assert e.__cause__ is not None
                raise e.__cause__ from None
            except (ProtocolError, OSError) as e:
                log.warning("WASI worker failed (attempt %d): %s; replacing it", attempt, e)
                await self._replace(worker)
                if attempt == 2:
                    raise SandboxError(f"two WASI workers failed on this job: {e}") from None
                continue
            except BaseException:  # cancelled while the worker runs the job: its answer is lost
                await self._replace(worker)
                raise
            self._idle.put_nowait(worker)
            return outcome
        raise AssertionError("unreachable")

    async def _replace(self, worker: Worker) -> None:
        self._all.discard(worker)
        await asyncio.to_thread(worker.close)
        self.replaced += 1
        self._idle.put_nowait(await asyncio.to_thread(self._spawn))

    async def close(self) -> None:
        workers = list(self._all)
        self._all.clear()
        await asyncio.gather(*(asyncio.to_thread(worker.close) for worker in workers))
        if self.work_dir:
            await asyncio.to_thread(shutil.rmtree, self.work_dir, True)

