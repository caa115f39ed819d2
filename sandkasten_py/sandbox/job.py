"""What the sandbox is asked to run (`JobSpec`) and what it reports back (`JobOutcome`).

The sandbox knows nothing about HTTP, programs or environments: it runs one command in a jail
with the given mounts and limits, and says how it ended.
"""

from __future__ import annotations

import enum

import msgspec

from sandkasten_py.schemas import Limits


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
    """Host directory mounted read-only at `/box`, the working directory."""
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
    stdin: bytes = b""
    limits: Limits


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
