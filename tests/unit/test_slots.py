"""Unit tests of the job slots (sandkasten_py.programs.slots.JobSlots).

At most `max_concurrent_jobs` requests run at once; the rest queue in arrival order, and a
benchmark takes several slots at once (§3.6). Each test runs its own loop with ``asyncio.run``
and drives tasks by yielding to the loop, never by waiting for time to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from sandkasten_py.programs.slots import JobSlots, QueueFull


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run until it blocks (a bounded number of loop iterations)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Holder:
    """A task that takes `count` slots, records when it got them, and holds them until told."""

    def __init__(self, slots: JobSlots, count: int, name: str, order: list[str]) -> None:
        self.release = asyncio.Event()
        self.acquired = False
        self.task = asyncio.create_task(self._run(slots, count, name, order))

    async def _run(self, slots: JobSlots, count: int, name: str, order: list[str]) -> None:
        async with slots.hold(count):
            self.acquired = True
            order.append(name)
            await self.release.wait()

    async def finish(self) -> None:
        self.release.set()
        await asyncio.wait_for(self.task, 5)


@contextlib.asynccontextmanager
async def held(slots: JobSlots, count: int = 1) -> AsyncIterator[None]:
    async with slots.hold(count):
        yield


def test_free_slots_are_taken_immediately() -> None:
    """Below the limit nobody waits."""
    async def main() -> None:
        slots = JobSlots(3)
        async with slots.hold():
            async with slots.hold():
                assert slots.free == 1 and slots.waiting == 0
        assert slots.free == 3
    run(main)


def test_waiters_are_served_in_arrival_order() -> None:
    """First come, first served: no request waits longer than one that came later."""
    async def main() -> None:
        slots = JobSlots(1)
        order: list[str] = []
        first = Holder(slots, 1, "first", order)
        await settle()
        waiters = []
        for i in range(5):
            waiters.append(Holder(slots, 1, f"w{i}", order))
            await settle()
        assert slots.waiting == 5
        await first.finish()
        for waiter in waiters:
            await settle()
            await waiter.finish()
        assert order == ["first", "w0", "w1", "w2", "w3", "w4"]
        assert slots.free == 1 and slots.waiting == 0
    run(main)


def test_several_slots_at_once() -> None:
    """A benchmark takes several slots together; the rest stay usable by others."""
    async def main() -> None:
        slots = JobSlots(4)
        async with slots.hold(3):
            assert slots.free == 1
            async with slots.hold(1):
                assert slots.free == 0
            order: list[str] = []
            big = Holder(slots, 2, "big", order)
            await settle()
            assert not big.acquired and slots.waiting == 1
        await settle()
        assert big.acquired and slots.free == 2
        await big.finish()
        assert slots.free == 4
    run(main)


def test_big_request_is_not_starved_by_later_small_ones() -> None:
    """Small requests arriving after a big waiting one queue behind it, even if slots are free."""
    async def main() -> None:
        slots = JobSlots(4)
        order: list[str] = []
        small = Holder(slots, 1, "small-0", order)
        await settle()
        big = Holder(slots, 4, "big", order)
        await settle()
        later = [Holder(slots, 1, f"small-{i}", order) for i in range(1, 4)]
        await settle()
        assert slots.free == 3
        assert not big.acquired and not any(h.acquired for h in later)
        await small.finish()
        await settle()
        assert big.acquired and not any(h.acquired for h in later)
        await big.finish()
        await settle()
        assert all(h.acquired for h in later)
        for holder in later:
            await holder.finish()
        assert order == ["small-0", "big", "small-1", "small-2", "small-3"]
        assert slots.free == 4
    run(main)


def test_cancelled_waiter_gives_nothing_away() -> None:
    """A disconnected client that was waiting takes no slot with it and blocks nobody."""
    async def main() -> None:
        slots = JobSlots(2)
        order: list[str] = []
        holders = [Holder(slots, 1, "a", order), Holder(slots, 1, "b", order)]
        await settle()
        waiter = Holder(slots, 1, "cancelled", order)
        behind = Holder(slots, 1, "behind", order)
        await settle()
        waiter.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter.task
        assert slots.waiting == 1
        await holders[0].finish()
        await settle()
        assert behind.acquired
        await holders[1].finish()
        await behind.finish()
        assert order == ["a", "b", "behind"]
        assert slots.free == 2 and slots.waiting == 0
    run(main)


def test_cancelled_big_waiter_lets_smaller_ones_through() -> None:
    """Removing a big waiter at the head of the queue grants the small ones behind it."""
    async def main() -> None:
        slots = JobSlots(3)
        order: list[str] = []
        holder = Holder(slots, 1, "holder", order)
        await settle()
        big = Holder(slots, 3, "big", order)
        await settle()
        small = Holder(slots, 2, "small", order)
        await settle()
        assert not small.acquired
        big.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await big.task
        await settle()
        assert small.acquired
        await holder.finish()
        await small.finish()
        assert slots.free == 3
    run(main)


def test_waiter_cancelled_just_after_being_granted_returns_its_slots() -> None:
    """Granted and cancelled in the same loop step: the granted slots come back."""
    async def main() -> None:
        slots = JobSlots(2)
        order: list[str] = []
        holding = slots.hold(2)
        await holding.__aenter__()
        waiter = Holder(slots, 2, "waiter", order)
        await settle()
        assert slots.waiting == 1
        # Release (which grants the waiter's future) and cancel without yielding in between.
        await holding.__aexit__(None, None, None)
        assert slots.waiting == 0 and not waiter.acquired
        waiter.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter.task
        assert "waiter" not in order
        assert slots.free == 2 and slots.waiting == 0
    run(main)


def test_exception_inside_the_block_releases_the_slots() -> None:
    """A failing request gives its slots back."""
    async def main() -> None:
        slots = JobSlots(2)
        with pytest.raises(KeyError):
            async with slots.hold(2):
                raise KeyError("boom")
        assert slots.free == 2
    run(main)


@pytest.mark.parametrize("count", [0, -1, 4, 100])
def test_invalid_counts_raise(count: int) -> None:
    """Zero, negative or more slots than exist could never be granted sensibly."""
    async def main() -> None:
        slots = JobSlots(3)
        with pytest.raises(ValueError):
            async with slots.hold(count):
                pass
        assert slots.free == 3 and slots.waiting == 0
    run(main)


def test_all_slots_is_a_valid_count() -> None:
    """Holding exactly `total` slots (a benchmark with permits = max_concurrent_jobs) works."""
    async def main() -> None:
        slots = JobSlots(3)
        async with held(slots, 3):
            assert slots.free == 0
        assert slots.free == 3
    run(main)


def test_past_max_waiting_a_request_is_refused_at_once() -> None:
    """With every slot taken and `max_waiting` waiting, one more is refused without waiting; a
    place in the queue that frees up takes the next; the daemon's own work is not bounded."""
    async def main() -> None:
        slots = JobSlots(1, max_waiting=2)
        waited: list[float] = []
        refused: list[bool] = []
        slots.on_wait, slots.on_refused = waited.append, lambda: refused.append(True)
        await slots.acquire()
        first, second = (asyncio.create_task(slots.acquire()) for _ in range(2))
        await asyncio.sleep(0)
        assert slots.waiting == 2
        with pytest.raises(QueueFull):
            await slots.acquire()
        assert slots.refused == 1 and refused == [True]
        own = asyncio.create_task(slots.acquire(bounded=False))  # a benchmark's: it waits
        await asyncio.sleep(0)
        assert slots.waiting == 3
        slots.release()
        await first
        assert slots.waiting == 2
        for task in (second, own):
            slots.release()
            await task
        slots.release()
        assert slots.free == 1 and len(waited) == 3  # the first acquisition and the two bounded waiters
    run(main)
