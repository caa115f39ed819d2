"""What a runner is asked to run (`JobSpec`), what it reports back (`JobOutcome`), and the
`Runner` protocol every sandbox implements (nsjail today; the wasm pool and gVisor later).

The sandbox knows nothing about HTTP, programs or environments: it runs one command in a jail
with the given mounts and limits, and says how it ended. Its types are its own; the programs
layer converts the API's types to them.
"""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec


DEFAULT_RUNNER = "nsjail"
"""The runner of environments whose manifest names none, and of programs stored without one."""


class SandboxError(Exception):
    """Something went wrong around a job (not inside it): the runner could not run it."""


class JobLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits of one job. The names are the API's limit names: a runner reports the limits a
    job ran into by these names (`JobOutcome.exceeded`)."""

    cpus: int
    """CPUs the job may run on."""
    time: int
    """Wall-clock seconds."""
    memory: int
    """MB (1,000,000 bytes): every process of the job together, its /tmp included."""
    tmpfs: int
    """MB of the `/tmp` tmpfs (the caller mounts it; see `JobSpec.tmp_dir`)."""
    filesize: int
    """MB (MiB for nsjail's rlimit) of the largest file the job may write."""
    file_descriptors: int
    processes: int
    """Processes and threads."""
    stdout_max_size: int
    """Bytes of stdout kept; more ends the job."""
    stderr_max_size: int
    network: bool


class Mount(msgspec.Struct, frozen=True):
    """A read-only bind mount of a host path at a path inside the job."""

    source: str
    target: str


class Symlink(msgspec.Struct, frozen=True):
    """A symlink created inside the job: `path` points to `target`."""

    path: str
    target: str


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One command to run in a jail."""

    argv: tuple[str, ...]
    """Command and arguments, as seen inside the job."""
    box_dir: str
    """Host directory mounted read-only at `/box`, the working directory, holding `files`;
    empty for a run step of a runner whose `run_files_in_memory` is true."""
    files: tuple[tuple[str, bytes], ...] = ()
    """The files of `/box` (name, content), as data."""
    program_dir: str
    """Host directory mounted at `/program`."""
    program_writable: bool
    """Whether `/program` is writable (compile steps) or read-only (run steps). A writable
    `/program` must be a capped tmpfs (see tmpfs.py): whatever is there, the job may fill."""
    tmp_dir: str | None = None
    """Host directory mounted read-write at `/tmp`: a tmpfs capped in bytes and inodes (see
    tmpfs.py) that the caller mounted and removes; None for no `/tmp`."""
    mounts: tuple[Mount, ...] = ()
    symlinks: tuple[Symlink, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    """Environment variables; the job sees nothing else."""
    compile_args: tuple[str, ...] = ()
    """A build's accepted extra compiler arguments, for the compile script (none contains a
    newline: they are given one per line in SANDKASTEN_COMPILE_ARGS)."""
    stdin: bytes = b""
    limits: JobLimits


class JobStatus(enum.Enum):
    """Why a job ended."""

    OK = "ok"
    NONZERO_EXIT = "nonzero_exit"
    SIGNALLED = "signalled"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"


class JobOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a job ended and what it used."""

    status: JobStatus
    exit_code: int
    """Exit code of the job, or 128 + signal number when a signal ended it."""
    stdout: bytes
    stderr: bytes
    wall_time_ms: int
    memory_kb: int
    """Peak memory in KB: the cgroup's peak charge (every process of the job, its /tmp included);
    without cgroups, the peak RSS of the largest process, which also counts the daemon's own
    memory because the kernel carries the high-water mark across fork and exec."""
    cpu_time_ms: int
    exceeded: tuple[str, ...]
    """Names of the limits the job ran into, in `Limits` field order."""


class JobControl(Protocol):
    """How the caller drives an interactive job while it runs (see `JobIO`)."""

    async def write_stdin(self, data: bytes) -> None:
        """Give the job `data` on stdin; returns once it is written or buffered within a bound
        (so a caller that sends faster than the job reads waits); nothing after `close_stdin`."""

    def close_stdin(self) -> None:
        """End of stdin, once what was given is written."""

    def signal(self, number: int) -> None:
        """Send signal `number` to the job's processes."""

    def resume_output(self) -> None:
        """Read the job's output again after `JobIO.output` asked to hold."""

    def stop(self) -> None:
        """End the job now (it is killed; its outcome follows)."""


class JobIO(Protocol):
    """An interactive job's streams: output is handed over as it comes (within the output
    limits, which count it), not collected into the outcome, and stdin comes from the caller
    while the job runs, not from `JobSpec.stdin`."""

    def started(self, control: JobControl) -> None:
        """The job runs: `control` drives it until its outcome is returned."""

    def output(self, stream: str, data: bytes) -> bool:
        """`data` written by the job to `stream` ("stdout" or "stderr"); False: hold, read
        nothing more of the job's output until `JobControl.resume_output`."""


class Runner(Protocol):
    """Runs jobs in a sandbox. The wiring starts every runner before the daemon serves and
    closes it after; `run` raises `SandboxError` when the job cannot be run, and otherwise
    reports how it ended, limits included."""

    run_files_in_memory: bool
    """True: its run steps take their files from `JobSpec.files` and get no job directory
    (`box_dir` and `tmp_dir` empty), which saves a directory and a tmpfs mount per run (the
    WASI workers keep the files in a directory of their own). False: every step gets one."""
    interactive: bool
    """Whether `run` takes a `JobIO` (interactive sessions)."""

    async def start(self) -> None:
        """Get ready (warm pools and the like), before the first job."""

    async def run(self, spec: JobSpec, io: JobIO | None = None) -> JobOutcome:
        """Run `spec` to its end; with `io` (only if `interactive`) its streams go through it."""

    async def close(self) -> None:
        """Release what `start` and the jobs left (called once, after the last job)."""
