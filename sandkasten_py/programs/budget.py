"""The memory budget: the memory limits of the steps running at once add up to at most a total.

A step (compile or run) reserves its `memory` limit before its job starts and gives it back when
the job has ended, so that the jobs together cannot ask the machine for more than it has, however
many job slots there are: emcc-sandboxd's resource gating, with the job's own hard limit instead
of an estimate. Steps wait in arrival order; one that waits longer than `wait_s` is refused with
`Busy` (503 with Retry-After), so that a flood of large jobs cannot pile up waiting without end.
A limit above the whole budget runs alone (it takes the whole budget) rather than never.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sandkasten_py.programs.errors import Busy
from sandkasten_py.programs.slots import JobSlots


class MemoryBudget:
    """Reservations of MB against a total, first come first served, with a bounded wait."""

    def __init__(self, total_mb: int, wait_s: float) -> None:
        self.total_mb = total_mb
        self.wait_s = wait_s
        self._slots = JobSlots(total_mb)

    @property
    def reserved_mb(self) -> int:
        """MB held by running steps."""
        return self._slots.total - self._slots.free

    @property
    def waiting(self) -> int:
        """Steps waiting for room."""
        return self._slots.waiting

    @contextlib.asynccontextmanager
    async def hold(self, memory_mb: int) -> AsyncIterator[None]:
        """Hold `memory_mb` (at most the whole budget) for the duration of the block."""
        count = max(1, min(memory_mb, self.total_mb))
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire(count)
        except TimeoutError:
            raise Busy(f"no room in the memory budget for {memory_mb} MB within {self.wait_s:g} s: "
                       f"{self.reserved_mb} of {self.total_mb} MB are held by running jobs "
                       "(configuration keys `memory_budget` and `memory_budget_wait`); ask for a "
                       "lower `memory` limit or try again later", retry_after=max(1, round(self.wait_s))) from None
        try:
            yield
        finally:
            self._slots.release(count)
