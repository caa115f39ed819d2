"""Gates: processes already placed in a fresh cgroup of their own, each waiting for a job's argv.

Moving a process into a cgroup (the write to `cgroup.procs`) costs the kernel a synchronization
of several milliseconds when it has not just done one (5-10 ms, p90 up to 20 ms on our cgroup v1
hosts). A job must never run outside its cgroup, so the move has to happen before the job starts;
a gate makes it happen *before the request comes*: a small pool of gates is kept ready, each a
bash in its own new cgroup, blocked reading fd 3. A job takes a ready gate, sets the cgroup's
limits, writes its argv (NUL-separated) to fd 3 and closes it; bash then closes fd 3 and execs
the argv (nsjail, or nsenter for jobs with network), keeping its pid, pipes and cgroup. Refilling
the pool runs in a thread, so the slow write never runs on the event loop or on a request's path.

Without cgroups (`use_cgroup = false`) the gates are the same, minus the cgroup: a job still
skips a shell's startup.

A gate whose daemon dies reads end-of-file and exits without running anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sandkasten_py.sandbox.argv import LOG_FD
from sandkasten_py.sandbox.cgroup import CgroupError, Cgroups, JobCgroup
from sandkasten_py.sandbox.pipes import Pipes
from sandkasten_py.sandbox.spawn import spawn

log = logging.getLogger(__name__)

BASH = "/bin/bash"
# Read the argv up to end-of-file, give up fd 3, become the job. `mapfile -d ''` splits on NUL,
# which no argument can contain.
GATE_SCRIPT = 'mapfile -d "" -t argv <&3 && exec 3<&- && exec "${argv[@]}"'
GATE_NAME = "sandkasten-gate"  # $0 of the script: how a waiting gate shows in `ps`
POOL_SIZE = 4
GATE_NICENESS = 5  # added to the daemon's own


class GateError(Exception):
    """A gate could not be made or opened."""


@dataclass
class Gate:
    """A process waiting in its cgroup for an argv, with the pipes of the job it will become."""

    pid: int
    pipes: Pipes
    cgroup: JobCgroup | None
    limits: tuple[int, int] | None = None  # (memory bytes, processes) set on the cgroup

    def limit(self, memory_bytes: int, processes: int) -> None:
        """Set the cgroup's limits, unless they are set already (raises OSError)."""
        if self.cgroup is not None and self.limits != (memory_bytes, processes):
            self.limits = None
            self.cgroup.set_limits(memory_bytes, processes)
            self.limits = (memory_bytes, processes)

    def open(self, argv: Sequence[str]) -> None:
        """Hand the gate its argv: from here on the process is the job."""
        data = b"".join(os.fsencode(arg) + b"\0" for arg in argv)
        try:
            view = memoryview(data)
            while view:  # argv is far below a pipe's buffer, but a write may still be partial
                written = os.write(self.pipes.gate_w, view)
                view = view[written:]
        finally:
            self.pipes.close_gate()

    def reaped(self) -> None:
        """The process has been waited for: its pid may belong to another process from now on."""
        self.pid = 0

    def discard(self) -> None:
        """Kill the gate's process unless it was reaped, free its pipes and remove its cgroup
        with anything left in it (blocking: call it from a thread)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0
        self.pipes.close_all()
        if self.cgroup is not None:
            try:
                self.cgroup.remove()
            except CgroupError:
                log.exception("gate cgroup left behind")


def spawn_gate(cgroups: Cgroups | None, limits: tuple[int, int] | None = None) -> Gate:
    """A new gate, in a new cgroup when there are cgroups, with `limits` (memory bytes,
    processes) set on it if given (blocking: call it from a thread)."""
    pipes = Pipes()
    try:
        pid = spawn(
            BASH, [BASH, "-c", GATE_SCRIPT, GATE_NAME], {},
            [(pipes.stdin_r, 0), (pipes.stdout_w, 1), (pipes.stderr_w, 2), (pipes.gate_r, 3),
             (pipes.log_w, LOG_FD)],
            setsid=True,
            # Python ignores SIGPIPE and SIGXFSZ; a job must get the default actions (a write
            # past the file size limit kills it with SIGXFSZ, as Sandkasten reports).
            default_signals=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as e:
        pipes.close_all()
        raise GateError(f"cannot start {BASH}: {e}") from e
    pipes.close_child_ends()
    gate = Gate(pid, pipes, None)
    # nsjail sets the jailed process's niceness to 19, but nsjail itself, which makes the
    # namespaces and mounts (much of it kernel time), would compete with the event loop on equal
    # terms: it yields to the daemon instead. Set before the gate has its argv.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + GATE_NICENESS))
    if cgroups is not None:
        try:
            gate.cgroup = cgroups.create(uuid.uuid4().hex)
            gate.cgroup.enter(pid)  # the slow write: here, before any request needs the gate
            if limits is not None:
                gate.limit(*limits)
        except (CgroupError, OSError) as e:
            gate.discard()
            raise GateError(f"cannot put a gate into its cgroup: {e}") from e
    return gate


class GatePool:
    """Keeps `size` gates ready, with the usual `limits` set; a taken gate is replaced in the
    background."""

    def __init__(self, cgroups: Cgroups | None, size: int = POOL_SIZE,
                 limits: tuple[int, int] | None = None) -> None:
        self.cgroups = cgroups
        self.size = size
        self.limits = limits
        self._ready: list[Gate] = []
        self._filling: asyncio.Task[None] | None = None
        self._closed = False

    async def take(self) -> Gate:
        """A ready gate, or a new one made now (in a thread) when none is ready."""
        if self._closed:
            raise GateError("the gate pool is closed")
        gate = self._ready.pop() if self._ready else None
        self.refill()
        if gate is None:
            gate = await asyncio.to_thread(spawn_gate, self.cgroups, self.limits)
        return gate

    def refill(self) -> None:
        """Start making gates in the background until `size` are ready (if not already)."""
        if self._filling is None or self._filling.done():
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while not self._closed and len(self._ready) < self.size:
            try:
                gate = await asyncio.to_thread(spawn_gate, self.cgroups, self.limits)
            except GateError:
                log.exception("cannot make a gate; jobs make their own until this works again")
                return
            if self._closed:
                await asyncio.to_thread(gate.discard)
                return
            self._ready.append(gate)

    async def close(self) -> None:
        """Stop refilling and discard the ready gates."""
        self._closed = True
        if self._filling is not None:
            with contextlib.suppress(asyncio.CancelledError, GateError):
                await self._filling
        gates, self._ready = self._ready, []
        for gate in gates:
            await asyncio.to_thread(gate.discard)
