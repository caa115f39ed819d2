"""The `wasmtime` runner: compile steps in nsjail, run steps on the pool of warm WASI workers.

A compile step runs a native compiler (clang, wat2wasm), so it goes to the nsjail runner like
any other; it must leave the WASI command module at `/program/main.wasm`, which is then compiled
for wasmtime by a worker that runs no guest code and kept in the module cache (modules.py):
runs load it instead of compiling it. A run step sends that
module, the job's files, stdin, args and limits to a worker (pool.py) and turns its answer into
a `JobOutcome`. The guest sees the job's files in its working directory (writable; the worker's
own copy), the program's other top-level files read-only at `/program`, `main.wasm` and the
request's args as its argv, the request's environment variables, and nothing else.

Limits: `time` is the epoch deadline, `memory` the store's memory limit, the output caps as for
every job; fuel comes from the configuration (`wasm.fuel`). The wall time and CPU time of a run
are the worker's measure of the run itself (one thread: the same), its memory the guest's linear
memory at the end. The `tmpfs` and `filesize` limits of a run are the worker's: the guest writes
to the worker's own `/tmp` tmpfs (`WorkerSetup.tmp_mb`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from sandkasten_py.sandbox import MB, JobIO, JobOutcome, JobSpec, JobStatus, Runner, SandboxError
from sandkasten_py.wasm.modules import ModuleCache
from sandkasten_py.wasm.pool import WorkerPool
from sandkasten_py.wasm.protocol import STATUS_TRAPPED, Job, Outcome

MODULE = "main.wasm"
"""The module a compile step leaves in `/program`, which the run step runs."""
MAX_FILES = 1_000
"""Top-level files of a job or program sent to a worker (more: a SandboxError)."""


class WasmtimeRunner:
    """Runs compile steps with `compiler` (the nsjail runner) and run steps on `pool`.

    The nsjail runner is shared with the environments that use it directly: the wiring starts
    and closes it once, so `start` and `close` here only concern the pool."""

    run_files_in_memory = True  # run steps send their files to a worker; compile steps are nsjail's
    interactive = False  # a worker gets stdin whole and answers with the whole outcome

    def __init__(self, compiler: Runner, pool: WorkerPool, fuel: int, modules: ModuleCache | None = None) -> None:
        self.compiler = compiler
        self.pool = pool
        self.fuel = fuel
        self.modules = modules
        """Compiled modules on disk (None: each worker compiles the modules it runs itself)."""
        self.programs = ProgramCache()

    async def start(self) -> None:
        await self.pool.start()

    async def close(self) -> None:
        await self.pool.close()

    async def run(self, spec: JobSpec, io: JobIO | None = None) -> JobOutcome:
        if io is not None:
            raise SandboxError("the wasmtime runner has no interactive jobs")
        if spec.program_writable:
            return await self.build(spec)
        outcome = await self.pool.run(await self.job(spec))
        return job_outcome(outcome)

    async def build(self, spec: JobSpec) -> JobOutcome:
        """The compile step in nsjail, then its module compiled into the module cache, so that
        the first run loads it (a compile step that leaves no module fails here)."""
        outcome = await self.compiler.run(spec)
        if outcome.status is not JobStatus.OK:
            return outcome
        try:
            program = await asyncio.to_thread(read_program, spec.program_dir)
        except SandboxError as e:
            return msgspec.structs.replace(outcome, status=JobStatus.NONZERO_EXIT, exit_code=1,
                                           stderr=outcome.stderr + f"{e}\n".encode())
        await self.compiled(program)
        return outcome

    async def job(self, spec: JobSpec) -> Job:
        """The worker's job for a run step."""
        limits = spec.limits
        program = await self.programs.get(spec.program_dir)
        if program.compiled is None:
            program.compiled = await self.compiled(program)
        return Job(
            module_key=program.module_key,
            module=b"" if program.compiled else program.module,
            compiled=program.compiled,
            files=list(spec.files),
            program_files=list(program.files),
            args=list(spec.argv[2:]),  # after the run script and the main file's name: the request's
            env=[(name, value) for name, value in spec.env],
            stdin=spec.stdin,
            time_s=float(limits.time),
            memory_bytes=limits.memory * MB,
            fuel=self.fuel,
            stdout_max=limits.stdout_max_size,
            stderr_max=limits.stderr_max_size,
        )

    async def compiled(self, program: Program) -> bytes:
        """The program's module compiled, from the module cache or by the compiling worker (and
        then kept there); empty without a cache or when the module does not compile (its run
        says why)."""
        if self.modules is None:
            return b""
        name = self.modules.name(program.module_key, self.pool.engine)
        compiled = await asyncio.to_thread(self.modules.load, name)
        if compiled is None:
            answer = await self.pool.compile(program.module)
            if answer.error:
                return b""
            compiled = answer.serialized
            await asyncio.to_thread(self.modules.save, name, compiled)
        return compiled


def job_outcome(outcome: Outcome) -> JobOutcome:
    """A worker's outcome as a runner's: the status from the limits it ran into and its exit."""
    exceeded = tuple(outcome.exceeded)
    if "time" in exceeded:
        status = JobStatus.TIME_LIMIT
    elif "memory" in exceeded:
        status = JobStatus.MEMORY_LIMIT
    elif exceeded:
        status = JobStatus.OUTPUT_LIMIT
    elif outcome.exit_code == STATUS_TRAPPED:
        status = JobStatus.SIGNALLED
    elif outcome.exit_code != 0:
        status = JobStatus.NONZERO_EXIT
    else:
        status = JobStatus.OK
    return JobOutcome(status=status, exit_code=outcome.exit_code, stdout=outcome.stdout, stderr=outcome.stderr,
                      wall_time_ms=outcome.wall_time_ms, memory_kb=outcome.memory_kb,
                      cpu_time_ms=outcome.wall_time_ms, exceeded=exceeded)


@dataclass
class Program:
    """What a run step sends of a built program."""

    module: bytes
    module_key: bytes
    """The module's SHA-256: the workers keep compiled modules by it."""
    files: tuple[tuple[str, bytes], ...]
    """The program's other top-level files."""
    compiled: bytes | None = None
    """The module compiled (from the module cache); empty: not to be had; None: not looked up."""

    @property
    def size(self) -> int:
        """Bytes kept in memory (the compiled module, looked up later, counted as the module)."""
        return 2 * len(self.module) + sum(len(content) for _, content in self.files)


class ProgramCache:
    """Built programs as read from the store, the most recently used up to `max_bytes`.

    A stored program never changes (a rebuild under the same id makes a new directory, with
    another inode), so a program is known by its directory's path, inode and change time: a hit
    costs one stat, a miss a read in a thread."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._programs: OrderedDict[tuple[str, int, int], Program] = OrderedDict()
        self._bytes = 0

    async def get(self, program_dir: str) -> Program:
        try:
            info = os.stat(program_dir)
        except OSError as e:
            raise SandboxError(f"cannot read the program: {e}") from None
        key = (program_dir, info.st_ino, info.st_ctime_ns)
        program = self._programs.get(key)
        if program is None:
            program = await asyncio.to_thread(read_program, program_dir)
            if program.size <= self.max_bytes:
                self._programs[key] = program
                self._bytes += program.size
        if key in self._programs:
            self._programs.move_to_end(key)
        while self._bytes > self.max_bytes:
            _, oldest = self._programs.popitem(last=False)
            self._bytes -= oldest.size
        return program


def read_program(program_dir: str) -> Program:
    """The module and the other top-level files of a stored program (blocking)."""
    files = _read_files(program_dir)
    module = next((content for name, content in files if name == MODULE), None)
    if module is None:
        raise SandboxError(f"the program has no {MODULE}: its environment's compile step must write "
                           f"/program/{MODULE}")
    return Program(module=module, module_key=hashlib.sha256(module).digest(),
                   files=tuple((name, content) for name, content in files if name != MODULE))


def _read_files(directory: str) -> list[tuple[str, bytes]]:
    """The regular files directly in `directory` (written by the daemon: no symlink is followed,
    subdirectories are left out)."""
    files: list[tuple[str, bytes]] = []
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for entry in os.scandir(dir_fd):
            if not entry.is_file(follow_symlinks=False):
                continue
            if len(files) == MAX_FILES:
                raise SandboxError(f"more than {MAX_FILES} files in {directory}")
            fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    continue
                files.append((entry.name, f.read()))
    finally:
        os.close(dir_fd)
    files.sort()
    return files
