"""Runs one job in nsjail: spawn, confine, feed stdin, drain output, enforce the deadline, measure.

The life of a job:

1. make its cgroup and set the memory and process limits;
2. spawn ``sh -c 'read <&3 && exec nsjail ...'``: a gate that waits until the daemon has moved it
   into the cgroup, so nothing of the job ever runs outside it (no ``preexec_fn``, which is unsafe
   in a threaded process);
3. feed stdin and drain stdout, stderr and nsjail's log *while* the job runs, keeping at most the
   limit of each stream; a stream over its limit ends the job;
4. end the job at its wall-clock deadline: SIGTERM to nsjail, which kills the job and still
   reports its resource usage to ``wait4`` (a SIGKILL to nsjail would lose it); whatever
   remains in the cgroup a moment later is SIGKILLed;
5. reap nsjail with ``wait4``, read the cgroup counters (peak memory, OOM kills, refused forks,
   CPU time), make sure no process is left and remove the cgroup.

Errors: everything that goes wrong around the job (not inside it) is raised as ``SandboxError``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import time
import uuid
from collections.abc import Callable

from sandkasten_py import safefs
from sandkasten_py.sandbox.argv import LOG_FD, MB, MIB, nsjail_argv
from sandkasten_py.sandbox.cgroup import CgroupError, Cgroups, CgroupStats, JobCgroup
from sandkasten_py.sandbox.job import JobOutcome, JobSpec, JobStatus
from sandkasten_py.sandbox.network import NetworkError, Networks
from sandkasten_py.sandbox.pipes import Pipes, Stream

log = logging.getLogger(__name__)

GATE = 'read -r _ <&3 && exec 3<&- && exec "$@"'
LOG_LIMIT = 64 * 1024  # bytes of nsjail's own messages kept
KILL_GRACE_S = 1.0  # after SIGTERM to nsjail, SIGKILL the whole cgroup
DRAIN_AFTER_EXIT_S = 2.0  # output still buffered when nsjail exits
NSJAIL_FAILED = 255  # nsjail's exit code for its own setup errors
SIGXFSZ_STATUS = 128 + signal.SIGXFSZ


class SandboxError(Exception):
    """The sandbox could not run a job (not: the job failed)."""


class NsjailRunner:
    """Runs jobs in nsjail, each in a cgroup of its own (or with rlimits only)."""

    def __init__(self, nsjail_path: str, cgroups: Cgroups | None, networks: Networks | None = None) -> None:
        self.nsjail_path = nsjail_path
        self.cgroups = cgroups
        self.networks = networks

    async def run(self, spec: JobSpec) -> JobOutcome:
        """Run `spec` to its end and report how it ended."""
        cgroup = self._create_cgroup(spec)
        use_cgroup = cgroup is not None
        try:
            if not spec.limits.network:
                return await _Job(spec, nsjail_argv(self.nsjail_path, spec, use_cgroup=use_cgroup),
                                  cgroup).run()
            if self.networks is None:
                raise SandboxError("network access for jobs is not available on this host")
            try:
                async with self.networks.namespace(uuid.uuid4().hex[:12]) as netns:
                    argv = nsjail_argv(self.nsjail_path, spec, use_cgroup=use_cgroup,
                                       resolv_conf=self.networks.resolv_conf)
                    enter = (self.networks.tools["nsenter"], f"--net={netns}", "--")
                    return await _Job(spec, argv, cgroup, enter).run()
            except NetworkError as e:
                raise SandboxError(str(e)) from e
        finally:
            if cgroup is not None:
                try:
                    cgroup.remove()
                except CgroupError:
                    log.exception("job cgroup left behind")

    def _create_cgroup(self, spec: JobSpec) -> JobCgroup | None:
        if self.cgroups is None:
            return None
        try:
            cgroup = self.cgroups.create(uuid.uuid4().hex)
        except CgroupError as e:
            raise SandboxError(str(e)) from e
        try:
            cgroup.set_limits(spec.limits.memory * MB, spec.limits.processes)
        except OSError as e:
            cgroup.remove()
            raise SandboxError(f"cannot limit the job's cgroup: {e}") from e
        return cgroup


class _Job:
    """The state of one running job (used once)."""

    def __init__(self, spec: JobSpec, argv: list[str], cgroup: JobCgroup | None,
                 enter: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.argv = argv
        self.cgroup = cgroup
        self.enter = enter  # a command that runs the rest in the job's network namespace
        self.loop = asyncio.get_running_loop()
        self.pid = 0
        self.kill_reasons: list[str] = []
        self.kill_timer: asyncio.TimerHandle | None = None

    async def run(self) -> JobOutcome:
        limits = self.spec.limits
        fds = Pipes()
        try:
            started = time.monotonic()
            self._spawn(fds)
            exited = self.loop.create_future()
            pidfd = os.pidfd_open(self.pid)
            self.loop.add_reader(pidfd, _resolve, exited)
            streams = [
                Stream(fds.stdout_r, limits.stdout_max_size, lambda: self.kill("stdout_max_size")),
                Stream(fds.stderr_r, limits.stderr_max_size, lambda: self.kill("stderr_max_size")),
                Stream(fds.log_r, LOG_LIMIT, None),
            ]
            for stream in streams:
                self.loop.add_reader(stream.fd, stream.on_readable)
            stdin_done = self._feed_stdin(fds)
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
            stdin_done()
            # The job's processes died with nsjail (they live in its pid namespace); what they
            # wrote before is still in the pipes.
            await asyncio.wait([s.closed for s in streams], timeout=DRAIN_AFTER_EXIT_S)
            stats = self._finish_cgroup()
            filled_a_file = await self._filled_a_file()
        finally:
            if self.kill_timer is not None:
                self.kill_timer.cancel()
            if self.pid:
                self._abandon()
            for fd in fds.parent_ends():
                try:
                    self.loop.remove_reader(fd)
                except (ValueError, OSError):
                    pass
            fds.close_all()
        stdout, stderr, nsjail_log = (s.value() for s in streams)
        return self._outcome(wait_status, rusage, stats, wall_ms, stdout, stderr, nsjail_log,
                             filled_a_file)

    def _spawn(self, fds: Pipes) -> None:
        try:
            command = [*self.enter, "/bin/sh", "-c", GATE, "sh", *self.argv]
            self.pid = os.posix_spawn(
                command[0], command, {},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, fds.stdin_r, 0),
                    (os.POSIX_SPAWN_DUP2, fds.stdout_w, 1),
                    (os.POSIX_SPAWN_DUP2, fds.stderr_w, 2),
                    (os.POSIX_SPAWN_DUP2, fds.gate_r, 3),
                    (os.POSIX_SPAWN_DUP2, fds.log_w, LOG_FD),
                ],
                setsid=True,
                # Python ignores SIGPIPE and SIGXFSZ; a job must get the default actions (a
                # write past the file size limit kills it with SIGXFSZ, as Sandkasten reports).
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            )
        except OSError as e:
            raise SandboxError(f"cannot start nsjail: {e}") from e
        fds.close_child_ends()
        try:
            if self.cgroup is not None:
                self.cgroup.enter(self.pid)
            os.write(fds.gate_w, b"\n")
        except OSError as e:
            self._abandon()
            raise SandboxError(f"cannot confine the job: {e}") from e
        finally:
            fds.close_gate()

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
                 wall_ms: int, stdout: bytes, stderr: bytes, nsjail_log: bytes,
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
        elif exit_code == NSJAIL_FAILED and _nsjail_failed(nsjail_log):
            raise SandboxError(f"nsjail failed: {nsjail_log.decode(errors='replace').strip()}")
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


def _nsjail_failed(nsjail_log: bytes) -> bool:
    # nsjail marks its own fatal problems with [E] or [F]; a job's exit(255) leaves no such line.
    return any(line.startswith((b"[E]", b"[F]")) for line in nsjail_log.splitlines())
