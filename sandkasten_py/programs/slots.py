"""The job slots: at most `max_concurrent_jobs` requests build or run at once, first come first served."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class JobSlots:
    """A counting semaphore whose waiters may take several slots at once, in arrival order."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._queue: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for slots."""
        return len(self._queue)

    @contextlib.asynccontextmanager
    async def hold(self, count: int = 1) -> AsyncIterator[None]:
        """Hold `count` slots for the duration of the block."""
        await self.acquire(count)
        try:
            yield
        finally:
            self._release(count)

    async def acquire(self, count: int = 1) -> None:
        """Take `count` slots, waiting for them in arrival order; give them back with `release`.
        Cancelled while waiting, it takes none."""
        if not 1 <= count <= self.total:
            raise ValueError(f"cannot hold {count} of {self.total} slots")
        if self.free >= count and not self._queue:
            self.free -= count
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (count, waiter)
        self._queue.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # granted just as we were cancelled
                self._release(count)
            else:
                self._queue.remove(entry)
                self._grant()
            raise

    def release(self, count: int = 1) -> None:
        """Give back slots taken with `acquire`."""
        self._release(count)

    def _release(self, count: int) -> None:
        self.free += count
        self._grant()

    def _grant(self) -> None:
        while self._queue and self._queue[0][0] <= self.free:
            count, waiter = self._queue.popleft()
            self.free -= count
            waiter.set_result(None)
