"""offloop.to_the_end: work in a thread that a cancelled caller still waits for."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sandkasten_py.offloop import to_the_end


def test_a_cancelled_caller_waits_for_the_work_and_is_then_cancelled() -> None:
    """What runs after the cancellation (a clean-up) finds the work done, never half-done."""
    started, finished = threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        time.sleep(0.2)
        finished.set()
        return "done"

    async def scenario() -> None:
        task = asyncio.ensure_future(to_the_end(work))
        await asyncio.to_thread(started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    asyncio.run(scenario())


def test_the_result_and_errors_of_the_work_come_back() -> None:
    def fail() -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        assert await to_the_end(lambda: 42) == 42
        with pytest.raises(OSError, match="disk full"):
            await to_the_end(fail)

    asyncio.run(scenario())
