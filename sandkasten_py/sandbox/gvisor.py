"""Runs jobs under gVisor: `runsc run` on an OCI bundle made from the job's spec (oci.py),
started from a gate in the job's cgroup like nsjail, and fed, drained, limited and measured
the same way (runner.Job).

gVisor puts a kernel of its own (the Sentry, a user-space Go program) between the job and the
host: the job's system calls never reach the host kernel, which sees only the Sentry's, under
gVisor's seccomp filter. That costs time (about 0.2 s per job more than nsjail, to start the
Sentry and its file server) and memory (the Sentry's own, counted in the job's cgroup).

Limits: `time`, the output caps and `filesize` (RLIMIT_FSIZE, which gVisor enforces) as under
nsjail; `memory` is the job's cgroup, which also holds the Sentry, so it gets `OVERHEAD_MB`
more; `processes` is RLIMIT_NPROC inside gVisor (the cgroup's pids limit is a backstop);
`cpus` is the CPU affinity of runsc and so of everything it starts. Jobs with network access
are refused: gVisor jobs have only their own loopback. An interactive job's signals go to all
its processes with `runsc kill --all` (they are gVisor's processes, not the host's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import uuid

from sandkasten_py.sandbox.argv import MB
from sandkasten_py.sandbox.cgroup import Cgroups
from sandkasten_py.sandbox.gates import Gate
from sandkasten_py.sandbox.job import JobIO, JobLimits, JobOutcome, JobSpec, SandboxError
from sandkasten_py.sandbox.oci import make_bundle, runsc_argv, runsc_errors, runsc_kill_argv
from sandkasten_py.sandbox.runner import GatedRunner, Job

GVISOR_RUNNER = "gvisor"
OVERHEAD_MB = 100
"""Memory the Sentry and the file server need besides the job's (about 45 MB for a Python hello
world on our machines), added to the job's cgroup limit."""
THREADS_PER_PROCESS = 16
THREADS_OVERHEAD = 512
"""The cgroup's pids limit: host threads of the Sentry, the file server and the platform's stub
processes, for `processes` guest processes. A C fork bomb reached 8 per process + 256 about once
in 40 runs, and the Sentry died (status 2) instead of the bomb being held to the time limit."""
RUNSC_FAILED = 128  # runsc's exit code when it could not run the container


class GVisorRunner(GatedRunner):
    """Runs jobs with `runsc` (gVisor), each in a cgroup of its own; `directory` holds the
    bundles of the jobs running (made by `start`, removed by `close`)."""

    def __init__(self, runsc: str, cgroups: Cgroups, directory: str,
                 usual_limits: JobLimits | None = None) -> None:
        super().__init__(cgroups, usual_limits)
        self.runsc = runsc
        self.directory = directory
        self._signals: set[asyncio.Task[None]] = set()

    def cgroup_limits(self, limits: JobLimits) -> tuple[int, int]:
        return ((limits.memory + OVERHEAD_MB) * MB,
                limits.processes * THREADS_PER_PROCESS + THREADS_OVERHEAD)

    async def start(self) -> None:
        await asyncio.to_thread(_fresh_directory, self.directory)
        await super().start()

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(shutil.rmtree, self.directory, True)

    async def run_in(self, gate: Gate, spec: JobSpec, io: JobIO | None) -> JobOutcome:
        if spec.limits.network:
            raise SandboxError("jobs under gVisor have no network access: ask for network: false")
        container = uuid.uuid4().hex
        bundle = os.path.join(self.directory, container)

        def failure(exit_code: int, _log: bytes) -> str | None:
            # runsc writes its errors to its log file; a job that exits 128 leaves none there
            if exit_code != RUNSC_FAILED:
                return None
            errors = runsc_errors(bundle)
            return f"gVisor (runsc) failed: {'; '.join(errors)}" if errors else None

        try:
            try:
                await asyncio.to_thread(make_bundle, spec, bundle)
            except (OSError, ValueError) as e:
                raise SandboxError(f"cannot write the job's gVisor bundle: {e}") from e
            _set_cpus(gate.pid, spec.limits.cpus)
            return await Job(spec, runsc_argv(self.runsc, bundle, container), gate, failure, io,
                             send_signal=lambda number: self._in_background(
                                 runsc_kill_argv(self.runsc, bundle, container, number))).run()
        finally:
            self.clean_up(lambda: shutil.rmtree(bundle, ignore_errors=True))


    def _in_background(self, argv: list[str]) -> None:
        """Run `argv` (`runsc kill`, an interactive job's signal) without waiting for it."""
        task = asyncio.get_running_loop().create_task(_quietly(*argv))
        self._signals.add(task)
        task.add_done_callback(self._signals.discard)


async def _quietly(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    await process.wait()


def _set_cpus(pid: int, cpus: int) -> None:
    """Let the gate, and so runsc and all it starts, run on `cpus` of the daemon's CPUs (a
    random choice, as nsjail's `--max_cpus` makes)."""
    available = sorted(os.sched_getaffinity(0))
    if cpus < len(available):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, random.sample(available, cpus))


def _fresh_directory(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)  # bundles an earlier run left
    os.makedirs(directory, mode=0o700)
