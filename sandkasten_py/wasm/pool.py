"""A pool of warm WASI workers, each a `python -m sandkasten_py.wasm.worker` inside its own nsjail.

A worker is started once (about 0.15 s: the jail, Python, `import wasmtime`) and then runs one job
after another, so a hot run costs a pipe round trip and the run itself (about 1 ms). Each worker
is jailed like any job: nobody, the seccomp policy, no network, its own `/tmp` tmpfs (mounted
by nsjail inside the jail), an address-space limit (`memory_mb`; wasmtime's reservations are
sized to fit, see execute.py) and, where the daemon has cgroups, a memory cgroup of its own with
that limit. The daemon only ever sends bytes and reads framed answers; guest code never runs in
its process.

A worker that dies, breaks the protocol or does not answer in time is killed and replaced, and
its job is tried once more on another worker; a second failure is a SandboxError (an internal
error), never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import uuid

import msgspec
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sandkasten_py.sandbox import MB, Cgroups, JobLimits, JobSpec, Mount, SandboxError
from sandkasten_py.sandbox.argv import nsjail_argv
from sandkasten_py.sandbox.cgroup import CgroupError, JobCgroup
from sandkasten_py.sandbox.processes import child_pids
from sandkasten_py.sandbox.reach import closed_to_jobs
from sandkasten_py.offloop import sized
from sandkasten_py.wasm.protocol import (FRAME_HEADER, MAX_FRAME, MODULES_KEPT, Compile, Compiled, Job, Message,
                                         Outcome, ProtocolError, Ready, decode_payload, encode_frame, frame_length)

log = logging.getLogger(__name__)

ANSWER_MARGIN_S = 5.0
"""How much longer than a job's time limit a worker may take to answer before it is replaced."""
COMPILE_TIMEOUT_S = 60.0
"""How long compiling a module may take (a module is at most a program's size)."""
START_TIMEOUT_S = 30.0
JAIL_LIBRARY = "/sandkasten/lib"
"""Where a worker finds the packages it imports, inside its jail."""
STOP_TIMEOUT_S = 2.0
EMPTY = "empty"
TMP_INODES = 10_000


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
    cgroups: Cgroups | None = None
    """Where each worker gets a memory cgroup of its own (None: the address-space limit only)."""


def worker_setup(nsjail: str, *, memory_mb: int = 1024, tmp_mb: int = 64,
                 cgroups: Cgroups | None = None) -> WorkerSetup:
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
                       tmp_mb=tmp_mb, cgroups=cgroups)


class Worker:
    """One jailed worker process, its cgroup, and the pipes to it on the event loop."""

    def __init__(self, setup: WorkerSetup, empty_dir: str) -> None:
        """Start the process (blocking: call it in a thread); `connect` then waits until it is
        warm. `empty_dir` (an empty directory) is its `/box` and `/program`; its `/tmp` is a
        tmpfs that nsjail mounts inside the jail, so nothing of it is left on the host."""
        self.setup = setup
        self.cgroup: JobCgroup | None = None
        limits = JobLimits(cpus=1, time=10**6, memory=setup.memory_mb, tmpfs=setup.tmp_mb, filesize=setup.tmp_mb,
                           file_descriptors=64, processes=setup.processes, stdout_max_size=0,
                           stderr_max_size=0, network=False)
        argv = nsjail_argv(setup.nsjail, JobSpec(
            argv=(setup.python, "-s", "-m", "sandkasten_py.wasm.worker"),  # -s: no user site-packages
            box_dir=empty_dir, program_dir=empty_dir, program_writable=False, mounts=setup.mounts,
            env=(("PYTHONPATH", ":".join(setup.python_path)), ("TMPDIR", "/tmp"), ("PYTHONDONTWRITEBYTECODE", "1")),
            limits=limits), use_cgroup=False)
        command = argv.index("--")
        argv[command:command] = ["--mount", f"none:/tmp:tmpfs:size={setup.tmp_mb * MB},nr_inodes={TMP_INODES}"]
        log_at = argv.index("--log_fd")
        argv[log_at + 1] = "2"  # nsjail's warnings on the worker's stderr, which goes to our log
        # stderr: nsjail's warnings and the worker's own (a Python traceback) go to the daemon's log.
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.wasmtime_version = ""
        self.engine = ""
        """The worker's `Ready.engine`: what its compiled modules depend on."""
        self.modules: OrderedDict[bytes, None] = OrderedDict()
        """The keys of the modules the worker keeps, most recently used last (protocol.py)."""

    async def connect(self) -> None:
        """Attach the pipes to the event loop and wait for `Ready` (ProtocolError otherwise)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_FRAME)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.process.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, self.process.stdin)
        self._reader, self._writer = reader, asyncio.StreamWriter(transport, protocol, None, loop)
        ready = await self._read(START_TIMEOUT_S)
        if not isinstance(ready, Ready):
            raise ProtocolError("the worker did not say it was ready")
        self.wasmtime_version = ready.wasmtime_version
        self.engine = ready.engine
        if self.setup.cgroups is not None:
            await asyncio.to_thread(self._confine, self.setup.cgroups)

    def _confine(self, cgroups: Cgroups) -> None:
        """Move the worker (nsjail and the Python it started) into a memory cgroup of its own
        with `memory_mb` and `processes` as its limits, before it runs any guest code (blocking:
        the move is the kernel's slow part). It starts outside, which a process that lives for
        hours can afford, and is moved once it says Ready: nothing it did before is a guest's."""
        self.cgroup = cgroups.create(f"wasm-{uuid.uuid4().hex}")
        self.cgroup.set_limits(self.setup.memory_mb * MB, self.setup.processes)
        jailed = child_pids(self.process.pid)
        if not jailed:
            raise ProtocolError("the worker's jail has no process")
        for pid in (self.process.pid, *jailed):
            self.cgroup.enter(pid)

    async def ask(self, job: Job) -> Outcome:
        """Run a job; ProtocolError if the worker fails (dies, breaks the protocol, overruns).
        The module's bytes are left out when the worker keeps it."""
        if job.module_key in self.modules:
            job = msgspec.structs.replace(job, module=b"", compiled=b"")
        await self._send(job, len(job.module) + len(job.compiled)
                         + sum(len(content) for _, content in (*job.files, *job.program_files)))
        answer = await self._read(job.time_s + ANSWER_MARGIN_S)
        if not isinstance(answer, Outcome):
            raise ProtocolError("the worker answered with something else than an outcome")
        self.modules.pop(job.module_key, None)
        if answer.module_kept:
            self.modules[job.module_key] = None
            while len(self.modules) > MODULES_KEPT:
                self.modules.popitem(last=False)
        return answer

    async def compile(self, module: bytes) -> Compiled:
        """The module compiled for the workers' engine (ProtocolError if the worker fails)."""
        await self._send(Compile(module=module), len(module))
        answer = await self._read(COMPILE_TIMEOUT_S)
        if not isinstance(answer, Compiled):
            raise ProtocolError("the worker answered a compile with something else")
        return answer

    async def _send(self, message: Job | Compile, size: int) -> None:
        assert self._writer is not None
        self._writer.write(await sized(size, encode_frame, message))
        try:
            await self._writer.drain()
        except ConnectionError as e:
            raise ProtocolError(f"the worker went away: {e}") from None

    async def _read(self, timeout: float) -> Message:
        assert self._reader is not None
        try:
            async with asyncio.timeout(timeout):
                header = await self._reader.readexactly(FRAME_HEADER)
                payload = await self._reader.readexactly(frame_length(header))
        except TimeoutError:
            raise ProtocolError(f"the worker did not answer within {timeout:g} s") from None
        except asyncio.IncompleteReadError:
            raise ProtocolError("the worker closed the pipe") from None
        return await sized(len(payload), decode_payload, payload)

    async def close(self) -> None:
        """End the worker and remove its directories: end of file first (it leaves by itself),
        then SIGTERM (nsjail kills what it runs), then SIGKILL."""
        if self._writer is not None:
            self._writer.close()
        elif self.process.stdin is not None:
            self.process.stdin.close()
        await asyncio.to_thread(self._stop)
        if self._reader is not None:
            self._reader.feed_eof()

    def _stop(self) -> None:
        for stop in (None, self.process.terminate, self.process.kill):
            if stop is not None:
                stop()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if self._reader is None and self.process.stdout is not None:
            self.process.stdout.close()
        if self.cgroup is not None:
            try:
                self.cgroup.remove()
            except CgroupError:
                log.exception("a WASI worker's cgroup was left behind")


class WorkerPool:
    """`size` warm workers; a job takes an idle one, waiting if all are busy. One more worker
    only compiles modules, one at a time: the compiled modules that the daemon keeps on disk and
    hands to other workers come from a process that never ran guest code."""

    def __init__(self, setup: WorkerSetup, size: int, directory: str) -> None:
        self.setup = setup
        self.size = size
        self.directory = directory
        """The pool's own directory (made by `start`, removed by `close`): it only holds the
        empty directory that the workers see as `/box` and `/program`."""
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._all: set[Worker] = set()
        self._compiler: Worker | None = None
        self._compiling = asyncio.Lock()
        self.replaced = 0
        self.engine = ""
        """What the workers' compiled modules depend on (`Ready.engine`), known once started."""

    async def start(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.directory, True)  # an earlier run's
        os.makedirs(os.path.join(self.directory, EMPTY), mode=0o755)
        os.chmod(self.directory, 0o711)  # the jail's user passes through to the empty directory
        *workers, self._compiler = await asyncio.gather(*(self._spawn() for _ in range(self.size + 1)))
        for worker in workers:
            self._idle.put_nowait(worker)
        self.engine = self._compiler.engine

    async def compile(self, module: bytes) -> Compiled:
        """`module` compiled by the compiling worker, tried once more on a new one if it fails
        (then a SandboxError)."""
        async with self._compiling:
            for attempt in (1, 2):
                assert self._compiler is not None
                compiler = self._compiler
                try:
                    return await compiler.compile(module)
                except (ProtocolError, OSError) as e:
                    log.warning("the compiling WASI worker failed (attempt %d): %s; replacing it", attempt, e)
                    await self._replace_compiler(compiler)
                    if attempt == 2:
                        raise SandboxError(f"two WASI workers failed to compile a module: {e}") from None
                except BaseException:  # cancelled: its answer would come at the wrong time
                    await asyncio.shield(self._replace_compiler(compiler))
                    raise
            raise AssertionError("unreachable")

    async def _spawn(self) -> Worker:
        worker = await asyncio.to_thread(Worker, self.setup, os.path.join(self.directory, EMPTY))
        self._all.add(worker)
        try:
            await worker.connect()
        except BaseException:
            self._all.discard(worker)
            await worker.close()
            raise
        return worker

    async def _renew(self, worker: Worker) -> Worker:
        """A new worker in place of `worker`, which is closed."""
        self._all.discard(worker)
        await worker.close()
        self.replaced += 1
        return await self._spawn()

    async def _replace_compiler(self, compiler: Worker) -> None:
        self._compiler = await self._renew(compiler)

    async def run(self, job: Job) -> Outcome:
        """Run `job` on a worker, once more on another if the first one fails (then a
        SandboxError). A job cancelled meanwhile (its client went away) costs its worker, which
        is replaced: its answer would come at the wrong time."""
        failures = 0
        while True:
            worker = await self._idle.get()
            if worker.process.poll() is not None:  # died while idle: not this job's failure
                log.warning("WASI worker exited while idle (status %s); replacing it", worker.process.returncode)
                await self._replace(worker)
                continue
            try:
                outcome = await worker.ask(job)
            except (ProtocolError, OSError) as e:
                failures += 1
                log.warning("WASI worker failed (attempt %d): %s; replacing it", failures, e)
                await self._replace(worker)
                if failures == 2:
                    raise SandboxError(f"two WASI workers failed on this job: {e}") from None
                continue
            except BaseException:
                await asyncio.shield(self._replace(worker))
                raise
            self._idle.put_nowait(worker)
            return outcome

    async def _replace(self, worker: Worker) -> None:
        self._idle.put_nowait(await self._renew(worker))

    async def close(self) -> None:
        workers = list(self._all)
        self._all.clear()
        await asyncio.gather(*(worker.close() for worker in workers))
        await asyncio.to_thread(shutil.rmtree, self.directory, True)
