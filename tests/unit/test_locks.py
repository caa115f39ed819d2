"""Unit tests of the per-program readers-writer lock (sandkasten_py.programs.locks).

Builds take the write lock, runs a read lock, the pruner deletes under the write lock. Mistakes
here mean a program deleted while it runs, two builds writing one directory, or requests that
hang forever. Each test runs its own event loop with ``asyncio.run``; tasks are driven by
yielding to the loop (``asyncio.sleep(0)``), never by waiting for time to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from sandkasten_py.programs.locks import KeyedRWLock, Lease, Mode

KEY = "program-1"


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run until it blocks (a bounded number of loop iterations)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def test_many_readers_at_once() -> None:
    """Runs of the same program do not wait for each other."""
    async def main() -> None:
        locks = KeyedRWLock()
        leases = [await asyncio.wait_for(locks.read(KEY), 5) for _ in range(5)]
        assert all(lease.mode is Mode.READ for lease in leases)
        assert locks.lock(KEY).readers == 5
        for lease in leases:
            lease.release()
        assert len(locks) == 0
    run(main)


def test_writer_excludes_readers_until_released() -> None:
    """A run waits while the program is being built (or deleted)."""
    async def main() -> None:
        locks = KeyedRWLock()
        writer = locks.try_write(KEY)
        assert writer is not None and writer.mode is Mode.WRITE
        reader = asyncio.create_task(locks.read(KEY))
        await settle()
        assert not reader.done()
        writer.release()
        lease = await asyncio.wait_for(reader, 5)
        assert lease.mode is Mode.READ
        lease.release()
        assert len(locks) == 0
    run(main)


def test_writer_waits_for_readers() -> None:
    """A build (write_unless with nothing built) waits until running readers are done."""
    async def main() -> None:
        locks = KeyedRWLock()
        reader = await locks.read(KEY)
        writer = asyncio.create_task(locks.write_unless(KEY, lambda: False))
        await settle()
        assert not writer.done()
        reader.release()
        lease = await asyncio.wait_for(writer, 5)
        assert lease.mode is Mode.WRITE
        lease.release()
        assert len(locks) == 0
    run(main)


def test_write_unless_takes_read_when_already_done() -> None:
    """A cached program is read at once, without taking the write lock."""
    async def main() -> None:
        locks = KeyedRWLock()
        other = await locks.read(KEY)
        lease = await asyncio.wait_for(locks.write_unless(KEY, lambda: True), 5)
        assert lease.mode is Mode.READ
        assert locks.lock(KEY).readers == 2 and not locks.lock(KEY).writer
        lease.release()
        other.release()
    run(main)


def test_hundred_identical_builds_share_the_first_build() -> None:
    """100 identical builds: the first builds under WRITE; when it is done and downgrades, every
    other one gets a READ lease, and none of them takes the write lock after it."""
    async def main() -> None:
        locks = KeyedRWLock()
        built = False
        modes: list[Mode] = []

        async def build() -> Lease:
            lease = await locks.write_unless(KEY, lambda: built)
            modes.append(lease.mode)
            return lease

        first = await asyncio.wait_for(build(), 5)
        assert first.mode is Mode.WRITE
        others = [asyncio.create_task(build()) for _ in range(99)]
        await settle()
        assert not any(task.done() for task in others)
        assert locks.lock(KEY).users == 100

        built = True
        first.downgrade()
        leases = await asyncio.wait_for(asyncio.gather(*others), 5)
        assert modes == [Mode.WRITE] + [Mode.READ] * 99
        assert all(lease.mode is Mode.READ for lease in leases)
        assert locks.lock(KEY).readers == 100
        for lease in [first, *leases]:
            lease.release()
        assert len(locks) == 0
    run(main)


def test_failed_build_lets_the_next_waiter_build() -> None:
    """If the first build fails (done() stays false), the next waiter gets WRITE and retries."""
    async def main() -> None:
        locks = KeyedRWLock()
        first = await locks.write_unless(KEY, lambda: False)
        second = asyncio.create_task(locks.write_unless(KEY, lambda: False))
        third = asyncio.create_task(locks.write_unless(KEY, lambda: False))
        await settle()
        first.release()
        await settle()
        done = [t for t in (second, third) if t.done()]
        assert len(done) == 1 and done[0].result().mode is Mode.WRITE
        done[0].result().release()
        remaining = next(t for t in (second, third) if t is not done[0])
        lease = await asyncio.wait_for(remaining, 5)
        assert lease.mode is Mode.WRITE
        lease.release()
        assert len(locks) == 0
    run(main)


def test_try_write_fails_while_a_reader_holds() -> None:
    """The pruner must not delete a program that a run is using."""
    async def main() -> None:
        locks = KeyedRWLock()
        reader = await locks.read(KEY)
        assert locks.try_write(KEY) is None
        assert locks.lock(KEY).users == 1  # the failed attempt left no trace
        reader.release()
        writer = locks.try_write(KEY)
        assert writer is not None and writer.mode is Mode.WRITE
        writer.release()
        assert len(locks) == 0
    run(main)


def test_try_write_fails_while_a_writer_holds() -> None:
    """Two writers never hold one key."""
    locks = KeyedRWLock()
    writer = locks.try_write(KEY)
    assert writer is not None
    assert locks.try_write(KEY) is None
    writer.release()
    assert len(locks) == 0


def test_keys_are_independent() -> None:
    """Locks on different programs do not affect each other."""
    locks = KeyedRWLock()
    a = locks.try_write("a")
    b = locks.try_write("b")
    assert a is not None and b is not None
    assert len(locks) == 2
    a.release()
    assert len(locks) == 1
    b.release()


def test_downgrade_keeps_writers_out_but_lets_readers_in() -> None:
    """After a build the builder keeps a read lease: the pruner cannot slip in, runs can."""
    async def main() -> None:
        locks = KeyedRWLock()
        lease = locks.try_write(KEY)
        assert lease is not None
        waiting_reader = asyncio.create_task(locks.read(KEY))
        waiting_writer = asyncio.create_task(locks.write_unless(KEY, lambda: False))
        await settle()
        lease.downgrade()
        assert lease.mode is Mode.READ
        reader = await asyncio.wait_for(waiting_reader, 5)
        await settle()
        assert not waiting_writer.done()
        assert locks.try_write(KEY) is None
        lease.release()
        reader.release()
        writer = await asyncio.wait_for(waiting_writer, 5)
        assert writer.mode is Mode.WRITE
        writer.release()
        assert len(locks) == 0
    run(main)


@pytest.mark.parametrize("mode", ["read", "released"])
def test_only_write_leases_can_be_downgraded(mode: str) -> None:
    """Downgrading a read (or released) lease would corrupt the reader count."""
    async def main() -> None:
        locks = KeyedRWLock()
        lease = await locks.read(KEY)
        if mode == "released":
            lease.release()
        with pytest.raises(RuntimeError):
            lease.downgrade()
        lease.release()
        assert len(locks) == 0
    run(main)


@pytest.mark.parametrize("mode", ["read", "write", "downgraded"])
def test_release_is_idempotent(mode: str) -> None:
    """A second release must not release somebody else's hold (cleanup paths may release twice)."""
    async def main() -> None:
        locks = KeyedRWLock()
        other = await locks.read("other")  # keeps another key alive: must be untouched
        if mode == "read":
            lease = await locks.read(KEY)
            holder = await locks.read(KEY)
        else:
            lease = locks.try_write(KEY)  # type: ignore[assignment]
            assert lease is not None
            if mode == "downgraded":
                lease.downgrade()
            holder = await locks.read(KEY) if mode == "downgraded" else None  # type: ignore[assignment]
        lease.release()
        lease.release()
        assert lease.mode is Mode.RELEASED
        if holder is not None:
            assert locks.lock(KEY).readers == 1
            assert locks.try_write(KEY) is None  # the other reader still holds
            holder.release()
            holder.release()
        assert len(locks) == 1
        other.release()
        assert len(locks) == 0
    run(main)


def test_entries_are_dropped_when_unused() -> None:
    """The table does not grow with every program ever seen."""
    async def main() -> None:
        locks = KeyedRWLock()
        for i in range(50):
            (await locks.read(i)).release()
            lease = locks.try_write(i)
            assert lease is not None
            lease.release()
            (await locks.write_unless(i, lambda: False)).release()
        assert len(locks) == 0
    run(main)


@pytest.mark.parametrize("waiter", ["read", "write_unless"])
def test_cancelled_waiter_leaves_no_entry(waiter: str) -> None:
    """A client that disconnects while waiting must not leak a lock entry or a lease."""
    async def main() -> None:
        locks = KeyedRWLock()
        writer = locks.try_write(KEY)
        assert writer is not None
        if waiter == "read":
            task = asyncio.create_task(locks.read(KEY))
        else:
            task = asyncio.create_task(locks.write_unless(KEY, lambda: False))
        await settle()
        assert locks.lock(KEY).users == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert locks.lock(KEY).users == 1
        writer.release()
        assert len(locks) == 0
        again = locks.try_write(KEY)
        assert again is not None
        again.release()
    run(main)


def test_cancelled_waiter_woken_in_the_same_step_leaves_no_entry() -> None:
    """Cancelled right after the holder released (its wake-up already queued): still no leak."""
    async def main() -> None:
        locks = KeyedRWLock()
        writer = locks.try_write(KEY)
        assert writer is not None
        task = asyncio.create_task(locks.read(KEY))
        await settle()
        writer.release()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(locks) == 0
    run(main)
