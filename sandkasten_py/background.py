"""Clean-up work that must happen but not on a request's path: one thread per kind of work,
one piece after the other (it is not urgent, and fewer threads wanting the GIL at once keep the
event loop's waits short), awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """A thread of its own for one kind of clean-up; `failure` starts the log line of an error."""

    def __init__(self, name: str, failure: str) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"sandkasten-{name}")
        self._failure = failure
        self._pending: set[asyncio.Future[None]] = set()

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        """Run `function(*args)` in the thread, after what was submitted before."""
        future = asyncio.get_running_loop().run_in_executor(self._thread, function, *args)
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("%s: %s", self._failure, future.exception())

    async def drain(self) -> None:
        """Wait for everything submitted so far."""
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def close(self) -> None:
        """Drain, then end the thread."""
        await self.drain()
        self._thread.shutdown()
