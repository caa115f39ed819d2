"""Runs one job in nsjail: spawn, confine, feed stdin, drain output, enforce the deadline, measure.
(`GatedRunner` and `Job` are shared with gVisor, gvisor.py: only the sandbox's command differs.)

The life of a job:

1. take a ready gate (gates.py): a process already in a fresh cgroup of its own, waiting for an
   argv, so that nothing of the job ever runs outside its cgroup and the slow move into a cgroup
   is not on the request's path; set the cgroup's memory and process limits; hand it nsjail's
   argv;
2. feed stdin and drain stdout, stderr and nsjail's log *while* the job runs, keeping at most the
   limit of each stream; a stream over its limit ends the job;
3. end the job at its wall-clock deadline: SIGTERM to nsjail, which kills the job and still
   reports its resource usage to ``wait4`` (a SIGKILL to nsjail would lose it); whatever
   remains in the cgroup a moment later is SIGKILLed;
4. reap nsjail with ``wait4``, read the cgroup counters (peak memory, OOM kills, refused forks,
   CPU time), make sure no process is left, and remove the cgroup in the background.

An interactive job (a `JobIO`, for sessions) differs in steps 2 and 3 only: its output goes to
the caller as it comes (counted against the same caps; held while the caller is behind), its
stdin comes from the caller while it runs, and the caller may signal or stop it.

Errors: everything that goes wrong around the job (not inside it) is raised as ``SandboxError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable

from sandkasten_py import safefs
from sandkasten_py.background import Background
from sandkasten_py.sandbox.argv import LOG_FD, MB, MIB, nsjail_argv
from sandkasten_py.sandbox.cgroup import CgroupError, Cgroups, CgroupStats, JobCgroup
from sandkasten_py.sandbox.gates import Gate, GateError, GatePool
from sandkasten_py.sandbox.job import JobIO, JobLimits, JobOutcome, JobSpec, JobStatus, SandboxError
from sandkasten_py.sandbox.network import NetworkError, Networks
from sandkasten_py.sandbox.pipes import Pipes, StdinWriter, Stream
from sandkasten_py.sandbox.processes import child_pids

log = logging.getLogger(__name__)

LOG_LIMIT = 64 * 1024  # bytes of nsjail's own messages kept
KILL_GRACE_S = 1.0  # after SIGTERM to nsjail, SIGKILL the whole cgroup
DRAIN_AFTER_EXIT_S = 2.0  # output still buffered when nsjail exits
EMPTY_WAIT_S = 1.0  # for the killed processes of a finished job to leave its cgroup
NSJAIL_FAILED = 255  # nsjail's exit code for its own setup errors
SIGXFSZ_STATUS = 128 + signal.SIGXFSZ


class GatedRunner:
    """What nsjail and gVisor jobs share: each job is a gate's process (in a cgroup of its own
    when there are cgroups) that execs the sandbox's command, fed and drained by `Job`."""

    run_files_in_memory = False  # the job's files are bind-mounted from its job directory
    interactive = True

    def __init__(self, cgroups: Cgroups | None, usual_limits: JobLimits | None = None) -> None:
        self.cgroups = cgroups
        # Ready gates have the usual (run step) limits set already: most jobs then write nothing.
        preset = None if usual_limits is None else self.cgroup_limits(usual_limits)
        self.gates = GatePool(cgroups, limits=preset)
        self._cleanups = Background("job-cleanup", "cannot clean up after a job")

    def cgroup_limits(self, limits: JobLimits) -> tuple[int, int]:
        """(memory bytes, processes) of a job's cgroup."""
        return limits.memory * MB, limits.processes

    async def start(self) -> None:
        """Make the first gates ready (in the background)."""
        self.gates.refill()

    async def close(self) -> None:
        """Discard the ready gates and wait for the cgroups still being removed."""
        await self.gates.close()
        await self._cleanups.close()

    async def run(self, spec: JobSpec, io: JobIO | None = None) -> JobOutcome:
        """Run `spec` to its end and report how it ended."""
        gate = await self._take_gate(spec)
        try:
            return await self.run_in(gate, spec, io)
        finally:
            self.clean_up(gate.discard)

    async def run_in(self, gate: Gate, spec: JobSpec, io: JobIO | None) -> JobOutcome:
        """Run `spec` as `gate`'s process (the gate is discarded afterwards)."""
        raise NotImplementedError

    async def _take_gate(self, spec: JobSpec) -> Gate:
        try:
            gate = await self.gates.take()
        except GateError as e:
            raise SandboxError(str(e)) from e
        try:
            gate.limit(*self.cgroup_limits(spec.limits))
        except OSError as e:
            self.clean_up(gate.discard)
            raise SandboxError(f"cannot limit the job's cgroup: {e}") from e
        return gate

    def clean_up(self, work: Callable[[], None]) -> None:
        """Do `work` (kill what is left of a gate, remove its cgroup...) off the request's path."""
        self._cleanups.submit(work)


class NsjailRunner(GatedRunner):
    """Runs jobs in nsjail, each in a cgroup of its own (or with rlimits only)."""

    def __init__(self, nsjail_path: str, cgroups: Cgroups | None, networks: Networks | None = None,
                 usual_limits: JobLimits | None = None) -> None:
        super().__init__(cgroups, usual_limits)
        self.nsjail_path = nsjail_path
        self.networks = networks

    async def run_in(self, gate: Gate, spec: JobSpec, io: JobIO | None) -> JobOutcome:
        use_cgroup = gate.cgroup is not None
        if not spec.limits.network:
            return await Job(spec, nsjail_argv(self.nsjail_path, spec, use_cgroup=use_cgroup), gate,
                             _nsjail_failure, io).run()
        if self.networks is None:
            raise SandboxError("network access for jobs is not available on this host")
        try:
            async with self.networks.namespace(uuid.uuid4().hex[:12]) as netns:
                argv = nsjail_argv(self.nsjail_path, spec, use_cgroup=use_cgroup,
                                   resolv_conf=self.networks.resolv_conf)
                enter = [self.networks.tools["nsenter"], f"--net={netns}", "--"]
                return await Job(spec, [*enter, *argv], gate, _nsjail_failure, io).run()
        except NetworkError as e:
            raise SandboxError(str(e)) from e


SandboxFailure = Callable[[int, bytes], "str | None"]
"""Given a job's exit code and what the sandbox wrote to its log descriptor: the sandbox's own
failure to run the job, described, or None when the job itself ran (and ended as it did)."""


class Job:
    """The state of one running job (used once): `argv` is the sandbox's command, which
    `failure` understands. With `io` the job is interactive, and this is its `JobControl`:
    signals go to the processes in the job's cgroup, or are given to `send_signal` (gVisor's
    processes are not the host's)."""

    def __init__(self, spec: JobSpec, argv: list[str], gate: Gate, failure: SandboxFailure,
                 io: JobIO | None = None, *, send_signal: Callable[[int], None] | None = None) -> None:
        self.spec = spec
        self.argv = argv
        self.gate = gate
        self.failure = failure
        self.io = io
        self.send_signal = send_signal
        self.streams: list[Stream] = []
        self.stdin: StdinWriter | None = None
        self.cgroup = gate.cgroup
        self.loop = asyncio.get_running_loop()
        self.pid = 0
        self.kill_reasons: list[str] = []
        self.kill_timer: asyncio.TimerHandle | None = None

    async def run(self) -> JobOutcome:
        limits = self.spec.limits
        fds = self.gate.pipes
        try:
            started = time.monotonic()
            self._open_gate()
            exited = self.loop.create_future()
            pidfd = os.pidfd_open(self.pid)
            self.loop.add_reader(pidfd, _resolve, exited)
            streams = [
                Stream(fds.stdout_r, limits.stdout_max_size, lambda: self.kill("stdout_max_size"),
                       self._sink("stdout")),
                Stream(fds.stderr_r, limits.stderr_max_size, lambda: self.kill("stderr_max_size"),
                       self._sink("stderr")),
                Stream(fds.log_r, LOG_LIMIT, None),
            ]
            self.streams = streams
            for stream in streams:
                self.loop.add_reader(stream.fd, stream.on_readable)
            if self.io is None:
                stdin_done = self._feed_stdin(fds)
            else:
                self.stdin = StdinWriter(fds.stdin_w, fds.close_stdin)
                stdin_done = self.stdin.stop
                self.io.started(self)
            deadline = self.loop.call_later(limits.time, self.kill, "time")
            try:
                await exited
            finally:
                self.loop.remove_reader(pidfd)
                os.close(pidfd)
                deadline.cancel()
            _, wait_status, rusage = os.wait4(self.pid, 0)
            wall_ms = int((time.monotonic() - started) * 1000)
            self.pid = 0
            self.gate.reaped()
            stdin_done()
            # The job's processes died with nsjail (they live in its pid namespace); what they
            # wrote before is still in the pipes.
            await asyncio.wait([s.closed for s in streams], timeout=DRAIN_AFTER_EXIT_S)
            stats = self._finish_cgroup()
            await self._until_empty()
            filled_a_file = await self._filled_a_file()
        finally:
            if self.kill_timer is not None:
                self.kill_timer.cancel()
            if self.pid:
                self._abandon()
            for stream in self.streams:
                stream.detach()
            for fd in fds.parent_ends():
                try:
                    self.loop.remove_reader(fd)
                except (ValueError, OSError):
                    pass
            if self.stdin is not None:
                self.stdin.stop()  # its writer removed before its descriptor is closed
            fds.close_all()
        stdout, stderr, sandbox_log = (s.value() for s in streams)
        return self._outcome(wait_status, rusage, stats, wall_ms, stdout, stderr, sandbox_log,
                             filled_a_file)

    def _open_gate(self) -> None:
        """Hand the waiting gate nsjail's argv: it becomes the job, in its cgroup already."""
        self.pid = self.gate.pid
        try:
            self.gate.open(self.argv)
        except OSError as e:
            self._abandon()
            raise SandboxError(f"cannot start the job: {e}") from e

    def _sink(self, stream: str) -> Callable[[bytes], bool] | None:
        io = self.io
        return None if io is None else (lambda data: io.output(stream, data))

    # JobControl, for interactive jobs

    async def write_stdin(self, data: bytes) -> None:
        if self.stdin is not None:
            await self.stdin.write(data)

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self.stdin.close()

    def signal(self, number: int) -> None:
        if not self.pid:
            return
        if self.send_signal is not None:
            self.send_signal(number)
            return
        if self.cgroup is not None:
            targets = [pid for pid in self.cgroup.pids() if pid != self.pid]  # not nsjail
        else:
            targets = child_pids(self.pid)  # nsjail's child: the job's first process
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, number)

    def resume_output(self) -> None:
        for stream in self.streams[:2]:
            stream.resume()

    def stop(self) -> None:
        self.kill("stopped")

    def _feed_stdin(self, fds: Pipes) -> Callable[[], None]:
        """Write stdin without blocking; returns a function that stops writing."""
        data = memoryview(self.spec.stdin)
        fd = fds.stdin_w
        writing = False

        def stop() -> None:
            # Runs at most once with effect: after close, the fd number may belong to a socket
            # or another job's pipe, whose writer must not be removed.
            nonlocal writing
            if writing:
                writing = False
                self.loop.remove_writer(fd)
            fds.close_stdin()

        def on_writable() -> None:
            nonlocal data
            try:
                written = os.write(fd, data[:65536])
            except BlockingIOError:
                return
            except OSError:  # the job closed stdin or exited: the rest is not wanted
                stop()
                return
            data = data[written:]
            if not data:
                stop()

        if data:
            self.loop.add_writer(fd, on_writable)
            writing = True
        else:
            stop()
        return stop

    def kill(self, reason: str) -> None:
        """End the job because a limit was hit; the first call starts the shutdown."""
        if reason not in self.kill_reasons:
            self.kill_reasons.append(reason)
        if self.kill_timer is not None or not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.kill_timer = self.loop.call_later(KILL_GRACE_S, self._kill_everything)

    def _kill_everything(self) -> None:
        """SIGKILL nsjail and everything in the job's cgroup (run() still reaps nsjail)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def _abandon(self) -> None:
        """Kill and reap a job that run() will not wait for (it failed or was cancelled)."""
        self._kill_everything()
        try:  # SIGKILL makes this quick
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.pid = 0
        self.gate.reaped()

    async def _filled_a_file(self) -> bool:
        """Whether the job left a file at its `filesize` limit in a place it could write.

        A write past RLIMIT_FSIZE raises SIGXFSZ, but the job's first process (pid 1 of its
        namespace) never receives it, CPython ignores it, and a shell whose child it killed
        carries on; in every case the write stops exactly at the limit. So a file that reached
        the limit is how the daemon learns that the limit was hit. (A file written to exactly
        the limit counts too: one byte more would have failed.)
        """
        size = self.spec.limits.filesize * MIB
        places = [self.spec.tmp_dir] if self.spec.tmp_dir is not None else []
        if self.spec.program_writable:
            places.append(self.spec.program_dir)
        try:
            # Cheap first: a place holding fewer bytes than the limit cannot hold such a file.
            places = [p for p in places if _bytes_used(p) >= size]
            if not places:
                return False
            return await asyncio.to_thread(lambda: any(safefs.holds_file_of_size(p, size) for p in places))
        except OSError as e:
            log.warning("cannot look for files at the size limit: %s", e)
            return False

    async def _until_empty(self) -> None:
        """Wait until the killed processes of the job have left its cgroup: a job ends, and its
        slot is free for the next one, only when nothing of it is left (usually at once)."""
        if self.cgroup is None:
            return
        deadline = self.loop.time() + EMPTY_WAIT_S
        while self.cgroup.occupied():
            if self.loop.time() > deadline:
                log.warning("processes of a finished job are still in its cgroup after %s s", EMPTY_WAIT_S)
                return
            self.cgroup.kill_all()
            await asyncio.sleep(0.005)

    def _finish_cgroup(self) -> CgroupStats | None:
        if self.cgroup is None:
            return None
        try:
            stats = self.cgroup.stats()
        except (OSError, ValueError) as e:
            raise SandboxError(f"cannot read the job's cgroup: {e}") from e
        self.cgroup.kill_all()  # nothing may outlive the job
        return stats

    def _outcome(self, wait_status: int, rusage: resource.struct_rusage, stats: CgroupStats | None,
                 wall_ms: int, stdout: bytes, stderr: bytes, sandbox_log: bytes,
                 filled_a_file: bool) -> JobOutcome:
        exit_code = os.waitstatus_to_exitcode(wait_status)
        if exit_code < 0:  # nsjail itself was killed by a signal
            exit_code = 128 - exit_code
        exceeded = set(self.kill_reasons)
        if stats is not None and stats.oom_kills > 0:
            exceeded.add("memory")
        if stats is not None and stats.pids_limit_hits > 0:
            exceeded.add("processes")
        if exit_code == SIGXFSZ_STATUS or filled_a_file:
            exceeded.add("filesize")
        if self.kill_reasons:
            exit_code = 128 + signal.SIGKILL  # as if the job had been SIGKILLed, like Sandkasten's timeout
        elif (failure := self.failure(exit_code, sandbox_log)) is not None:
            raise SandboxError(failure)
        if stats is not None:
            memory_kb, cpu_ms = stats.peak_memory_bytes // 1024, stats.cpu_time_ns // 1_000_000
        else:
            memory_kb, cpu_ms = rusage.ru_maxrss, int((rusage.ru_utime + rusage.ru_stime) * 1000)
        return JobOutcome(
            status=_status(exit_code, exceeded, bool(self.kill_reasons)),
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            wall_time_ms=wall_ms,
            memory_kb=memory_kb,
            cpu_time_ms=cpu_ms,
            exceeded=tuple(name for name in LIMIT_ORDER if name in exceeded),
        )


def _bytes_used(directory: str) -> int:
    info = os.statvfs(directory)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


LIMIT_ORDER = ("time", "memory", "filesize", "processes", "stdout_max_size", "stderr_max_size")


def _status(exit_code: int, exceeded: set[str], killed: bool) -> JobStatus:
    if "time" in exceeded:
        return JobStatus.TIME_LIMIT
    if "memory" in exceeded and exit_code == 128 + signal.SIGKILL:
        return JobStatus.MEMORY_LIMIT
    if killed:
        return JobStatus.OUTPUT_LIMIT
    if exit_code == 0:
        return JobStatus.OK
    signalled = 128 < exit_code <= 128 + signal.SIGRTMAX
    return JobStatus.SIGNALLED if signalled else JobStatus.NONZERO_EXIT


def _nsjail_failure(exit_code: int, nsjail_log: bytes) -> str | None:
    # nsjail marks its own fatal problems with [E] or [F]; a job's exit(255) leaves no such line.
    if exit_code == NSJAIL_FAILED and any(line.startswith((b"[E]", b"[F]")) for line in nsjail_log.splitlines()):
        return f"nsjail failed: {nsjail_log.decode(errors='replace').strip()}"
    return None
