"""One compile or run step: from the program's files and a request to a `RunResult`."""

from __future__ import annotations

import base64
import codecs
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import ContextManager, Protocol

import msgspec

from sandkasten_py.offloop import sized
from sandkasten_py.programs.budget import MemoryBudget
from sandkasten_py.programs.errors import NotInteractive
from sandkasten_py.programs.jobdirs import JobDir, JobDirs
from sandkasten_py.programs.store import ProgramStore
from sandkasten_py.sandbox import (
    DEFAULT_RUNNER, GVISOR_RUNNER, JobIO, JobLimits, JobOutcome, JobSpec, Mount, Runner, SandboxError, Symlink,
)
from sandkasten_py.schemas import EnvVar, File, Limits, ResourceUsage, RunResult

PIECE_BYTES = 3 * 256 * 1024  # a multiple of 3: base64 pieces join without padding between


def job_limits(limits: Limits) -> JobLimits:
    """The sandbox's limits for the API's (the same names and units)."""
    return JobLimits(**msgspec.structs.asdict(limits))


class JobObserver(Protocol):
    """Told about every job (the metrics subscribe to this)."""

    def track_job(self, step: str, environment: str) -> ContextManager[None]:
        """A context around one job; `step` is "compile" or "run"."""
        ...

    def job_done(self, step: str, environment: str, exit_code: int, exceeded: list[str]) -> None:
        """How a job ended."""
        ...


@dataclass(frozen=True)
class Steps:
    """Runs compile and run steps: the sandbox, the job directories and who watches the jobs."""

    runners: Mapping[str, Runner]
    """By name: the `runner` of an environment's manifest."""
    store: ProgramStore
    job_dirs: JobDirs
    observer: JobObserver | None = None
    memory: MemoryBudget | None = None
    """Where a job reserves its memory limit before it starts (None: no budget)."""
    under_gvisor: frozenset[str] = frozenset()
    """Environments whose nsjail steps run under gVisor instead (`*`: every one), the programs
    built before included (configuration key `gvisor.environments`)."""

    @contextlib.asynccontextmanager
    async def job(self, box_files: list[File], limits: Limits, *, compiling: bool,
                  runner: str) -> AsyncIterator[JobDir]:
        """A fresh job directory holding `box_files` (with a `/program` tmpfs when `compiling`),
        or for a run step of a runner that takes its files in memory none, once the job's
        memory limit fits in the budget (Busy if it does not in time)."""
        files = [(f.name, f.data()) for f in box_files]
        budget = self.memory.hold(limits.memory) if self.memory is not None else contextlib.nullcontext()
        if not compiling and self.sandbox(runner).run_files_in_memory:
            async with budget:
                yield JobDir(box="", tmp=None, program=None, files=tuple(files))
            return
        async with budget, self.job_dirs.job(files, tmp_mb=limits.tmpfs, compiling=compiling) as job:
            yield job

    def sandbox(self, runner: str, environment: str | None = None) -> Runner:
        """The runner named `runner`, or gVisor for a nsjail step of an environment it is
        configured for (SandboxError if this daemon has no runner of that name)."""
        if runner == DEFAULT_RUNNER and environment is not None and (
                environment in self.under_gvisor or "*" in self.under_gvisor):
            runner = GVISOR_RUNNER
        sandbox = self.runners.get(runner)
        if sandbox is None:  # a program stored by a daemon that had this runner
            raise SandboxError(f"the runner {runner!r} is not available in this daemon")
        return sandbox

    async def run(
        self,
        job: JobDir,
        *,
        environment: str,
        runner: str,
        argv: tuple[str, ...],
        program_dir: str,
        mounts: tuple[Mount, ...],
        symlinks: tuple[Symlink, ...],
        env_vars: list[EnvVar],
        stdin: str | None,
        limits: Limits,
        base64_output: bool = False,
        compile_args: tuple[str, ...] = (),
        io: JobIO | None = None,
    ) -> RunResult:
        """Run one step with the runner named `runner`, in `job` with `program_dir` at
        `/program`: read-only for a run step; for a compile step (a job with a `/program` tmpfs)
        that tmpfs, writable. With `io` the step is interactive (NotInteractive if its runner
        cannot be): its stdin and output go through `io`, not `stdin` and the result."""
        sandbox = self.sandbox(runner, environment)
        if io is not None and not sandbox.interactive:
            raise NotInteractive(environment, runner)
        compiling = job.program is not None
        step = "compile" if compiling else "run"
        tracking = self.observer.track_job(step, environment) if self.observer else contextlib.nullcontext()
        with tracking:
            outcome = await sandbox.run(JobSpec(
                argv=argv,
                box_dir=job.box,
                files=job.files,
                program_dir=program_dir,
                program_writable=compiling,
                tmp_dir=job.tmp,
                mounts=mounts,
                symlinks=symlinks,
                env=tuple((v.name, v.value) for v in env_vars),
                stdin=(stdin or "").encode(),
                limits=job_limits(limits),
                compile_args=compile_args,
            ), io)
        if self.observer is not None:
            self.observer.job_done(step, environment, outcome.exit_code, list(outcome.exceeded))
        return await sized(len(outcome.stdout) + len(outcome.stderr),
                           to_run_result, outcome, limits, base64_output)


def to_run_result(outcome: JobOutcome, limits: Limits, base64_output: bool = False) -> RunResult:
    """The wire form of a job's outcome: output decoded as lossy UTF-8, like Sandkasten, or as
    base64 when asked for (every byte kept)."""
    def text(data: bytes) -> str:
        return output_text(data, base64_output)

    return RunResult(
        status=outcome.exit_code,
        stdout=text(outcome.stdout),
        stderr=text(outcome.stderr),
        resource_usage=ResourceUsage(
            time=outcome.wall_time_ms, memory=outcome.memory_kb, cpu_time=outcome.cpu_time_ms
        ),
        limits=limits,
        exceeded=list(outcome.exceeded),
    )


def output_text(data: bytes, base64_output: bool) -> str:
    """A job's output on the wire: lossy UTF-8, or base64 (every byte kept)."""
    # Piece by piece: a thread converting a big output gives the event loop the GIL back
    # between pieces, instead of holding it for the whole conversion.
    view = memoryview(data)
    if base64_output:
        return "".join(base64.b64encode(view[i:i + PIECE_BYTES]).decode("ascii")
                       for i in range(0, len(view), PIECE_BYTES))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return "".join(decoder.decode(view[i:i + PIECE_BYTES], final=i + PIECE_BYTES >= len(view))
                   for i in range(0, len(view), PIECE_BYTES))
