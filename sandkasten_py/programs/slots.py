"""The job slots: at most `max_concurrent_jobs` requests build or run at once, first come first
served, and at most `max_queued_jobs` wait for them; past that a request is refused at once."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable


class QueueFull(Exception):
    """`max_waiting` requests wait already: this one is not queued."""


class JobSlots:
    """A counting semaphore whose waiters may take several slots at once, in arrival order, with
    at most `max_waiting` of them waiting (None: no bound)."""

    def __init__(self, total: int, max_waiting: int | None = None) -> None:
        self.total = total
        self.free = total
        self.max_waiting = max_waiting
        self.refused = 0
        """Requests refused because the queue was full."""
        self.on_wait: Callable[[float], None] | None = None
        """Told the seconds each bounded acquisition waited (0 for none), for the metrics."""
        self.on_refused: Callable[[], None] | None = None
        """Told of each request refused because the queue was full, for the metrics."""
        self._queue: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for slots."""
        return len(self._queue)

    @contextlib.asynccontextmanager
    async def hold(self, count: int = 1, *, bounded: bool = True) -> AsyncIterator[None]:
        """Hold `count` slots for the duration of the block (`bounded`: see `acquire`)."""
        await self.acquire(count, bounded=bounded)
        try:
            yield
        finally:
            self._release(count)

    async def acquire(self, count: int = 1, *, bounded: bool = True) -> None:
        """Take `count` slots, waiting for them in arrival order; give them back with `release`.
        Cancelled while waiting, it takes none. QueueFull, at once, when it would have to wait
        and `max_waiting` requests wait already (unless not `bounded`: the daemon's own work)."""
        if not 1 <= count <= self.total:
            raise ValueError(f"cannot hold {count} of {self.total} slots")
        if bounded:
            self.check_room(count)
        if self.free >= count and not self._queue:
            self.free -= count
            if bounded and self.on_wait is not None:
                self.on_wait(0.0)
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        entry = (count, waiter)
        self._queue.append(entry)
        started = loop.time()
        try:
            await waiter
            if bounded and self.on_wait is not None:
                self.on_wait(loop.time() - started)
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # granted just as we were cancelled
                self._release(count)
            else:
                self._queue.remove(entry)
                self._grant()
            raise

    def check_room(self, count: int = 1) -> None:
        """QueueFull (counted as a refusal) if a request for `count` slots would have to wait
        now and `max_waiting` requests wait already."""
        must_wait = self.free < count or bool(self._queue)
        if must_wait and self.max_waiting is not None and len(self._queue) >= self.max_waiting:
            self.refused += 1
            if self.on_refused is not None:
                self.on_refused()
            raise QueueFull(f"{len(self._queue)} requests wait for a job slot already (max_queued_jobs)")

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
