"""A readers-writer lock per program id, for the event loop's single thread.

Readers are jobs that use a built program (a run step); the writer is whoever builds the program
or deletes it (the pruner). A build holds the write lock and then *downgrades* it to a read
lock, so that the program cannot be pruned between its build and its run.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Hashable


class _RWLock:
    def __init__(self) -> None:
        self.readers = 0
        self.writer = False
        self.users = 0  # leases held or awaited; the entry is dropped at 0
        self._waiters: list[asyncio.Future[None]] = []

    async def wait_for_change(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Mode(enum.Enum):
    """What a lease allows."""

    READ = "read"
    WRITE = "write"
    RELEASED = "released"


class Lease:
    """A held read or write lock on one key; release it exactly once (extra calls are ignored)."""

    def __init__(self, owner: KeyedRWLock, key: Hashable, mode: Mode) -> None:
        self._owner = owner
        self.key = key
        self.mode = mode

    def downgrade(self) -> None:
        """Turn a write lease into a read lease without letting another writer in."""
        if self.mode is not Mode.WRITE:
            raise RuntimeError(f"cannot downgrade a {self.mode.value} lease")
        lock = self._owner.lock(self.key)
        lock.writer = False
        lock.readers += 1
        self.mode = Mode.READ
        lock.changed()

    def release(self) -> None:
        """Give the lock back."""
        if self.mode is Mode.RELEASED:
            return
        lock = self._owner.lock(self.key)
        if self.mode is Mode.WRITE:
            lock.writer = False
        else:
            lock.readers -= 1
        self.mode = Mode.RELEASED
        lock.changed()
        self._owner.forget(self.key)


class KeyedRWLock:
    """One readers-writer lock per key, created on first use and dropped when unused."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, _RWLock] = {}

    def lock(self, key: Hashable) -> _RWLock:
        """The lock of `key` (for leases)."""
        return self._locks[key]

    def forget(self, key: Hashable) -> None:
        """Called when a user of `key` is done."""
        lock = self._locks[key]
        lock.users -= 1
        if lock.users == 0:
            del self._locks[key]

    def _use(self, key: Hashable) -> _RWLock:
        lock = self._locks.setdefault(key, _RWLock())
        lock.users += 1
        return lock

    async def read(self, key: Hashable) -> Lease:
        """Wait for a read lease."""
        lock = self._use(key)
        try:
            while lock.writer:
                await lock.wait_for_change()
        except BaseException:
            self.forget(key)
            raise
        lock.readers += 1
        return Lease(self, key, Mode.READ)

    async def write_unless(self, key: Hashable, done: Callable[[], bool]) -> Lease:
        """Wait for a write lease; but if `done()` turns true first, return a read lease instead.

        This lets 100 identical build requests wait for the first one to finish, then all read
        its result at once, instead of taking the write lock one after the other.
        """
        lock = self._use(key)
        try:
            while True:
                if not lock.writer and done():
                    lock.readers += 1
                    return Lease(self, key, Mode.READ)
                if not lock.writer and lock.readers == 0:
                    lock.writer = True
                    return Lease(self, key, Mode.WRITE)
                await lock.wait_for_change()
        except BaseException:
            self.forget(key)
            raise

    def try_write(self, key: Hashable) -> Lease | None:
        """A write lease if nobody holds the key, else None."""
        lock = self._locks.get(key)
        if lock is not None and (lock.writer or lock.readers):
            return None
        lock = self._use(key)
        lock.writer = True
        return Lease(self, key, Mode.WRITE)

    def __len__(self) -> int:
        return len(self._locks)
