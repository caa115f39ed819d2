"""Deleting programs that have not been used for `program_ttl` seconds, and the store's litter;
and deleting the least recently used programs early when all together outgrow their budget
(`storage_limits.programs_size`), so that many builds cannot fill the disk either.

A program is taken out of the store under its write lock with a rename, and its tree deleted
afterwards in a thread, so neither a big tree nor a deep one holds up requests or the lock.
Entries that are not programs (trash of earlier deletions, builds a crash interrupted, anything
else) are deleted at the first sweep. An error with one entry is logged, and the sweep goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sandkasten_py import safefs
from sandkasten_py.programs.locks import KeyedRWLock
from sandkasten_py.programs.store import ProgramStore

log = logging.getLogger(__name__)


class Pruner:
    """Sweeps the programs directory; a program in use is deleted only once its users are done."""

    def __init__(self, store: ProgramStore, locks: KeyedRWLock, ttl: int, budget_bytes: int | None = None) -> None:
        self.store = store
        self.locks = locks
        self.ttl = ttl
        self.budget_bytes = budget_bytes
        self._waiting: set[asyncio.Task[None]] = set()
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """A program was stored: check the budget now rather than at the next sweep."""
        self._woken.set()

    async def make_room(self) -> int:
        """Delete least recently used programs not in use until all fit the budget; returns how
        many were deleted. Programs in use are skipped (the store may stay over budget while
        every program is in use)."""
        deleted = 0
        if self.budget_bytes is None or self.store.total_size() <= self.budget_bytes:
            return 0
        for name in self.store.by_last_use():
            if self.store.total_size() <= self.budget_bytes:
                break
            program_id = _as_program_id(name)
            lease = self.locks.try_write(program_id) if program_id is not None else None
            if lease is None:
                continue
            try:
                trash = self.store.discard(name)
            finally:
                lease.release()
            try:
                if await self._delete(name, trash, "to keep the store within its budget"):
                    deleted += 1
            except Exception:
                log.exception("cannot prune %s", name)
        return deleted

    async def sweep(self) -> int:
        """Delete every expired program that is not in use; returns how many entries were deleted.

        For programs in use, a task waits for the write lock and checks again then.
        """
        deleted = 0
        for name in self.store.entries():
            try:
                if await self._sweep_entry(name):
                    deleted += 1
            except Exception:
                log.exception("cannot prune %s", name)
        return deleted

    async def _sweep_entry(self, name: str) -> bool:
        program_id = _as_program_id(name)
        if program_id is None:  # not a program: nothing can hold a lock on it
            return await self._delete_if_expired(name)
        lease = self.locks.try_write(program_id)
        if lease is None:
            if all(t.get_name() != name for t in self._waiting):
                task = asyncio.get_running_loop().create_task(self._prune_later(program_id), name=name)
                self._waiting.add(task)
                task.add_done_callback(self._waiting.discard)
            return False
        try:
            trash = self._take_out_if_expired(name)
        finally:
            lease.release()
        return await self._delete(name, trash)

    async def _prune_later(self, program_id: uuid.UUID) -> None:
        try:
            lease = await self.locks.write_unless(program_id, lambda: False)
            try:
                trash = self._take_out_if_expired(str(program_id))
            finally:
                lease.release()
            await self._delete(str(program_id), trash)
        except Exception:
            log.exception("cannot prune %s", program_id)

    async def _delete_if_expired(self, name: str) -> bool:
        return await self._delete(name, self._take_out_if_expired(name))

    def _take_out_if_expired(self, name: str) -> str | None:
        last_run = self.store.last_run(name)
        if last_run is not None and last_run > time.time() - self.ttl:
            return None
        return self.store.discard(name)

    async def _delete(self, name: str, trash: str | None, why: str = "expired") -> bool:
        if trash is None:
            return False
        await asyncio.to_thread(safefs.remove_tree, trash)
        if _as_program_id(name) is not None:
            log.info("deleted program %s (%s)", name, why)
        else:
            log.info("deleted %s (not a program)", name)
        return True

    async def run_forever(self, interval: float) -> None:
        """Sweep now and then every `interval` seconds; keep to the budget, also whenever woken."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self.store.measure)  # an earlier run's programs count too
        except OSError:
            log.exception("cannot measure the programs of an earlier run")
        next_sweep = loop.time()
        while True:
            try:
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + interval
                    await self.sweep()
                await self.make_room()
            except Exception:
                log.exception("program sweep failed")
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives just as
            # the event is set (a build right before shutdown), and shutdown then waits forever.
            try:
                async with asyncio.timeout(max(0.0, next_sweep - loop.time())):
                    await self._woken.wait()
            except TimeoutError:
                pass
            self._woken.clear()

    async def close(self) -> None:
        """Cancel the waiting deletions."""
        for task in list(self._waiting):
            task.cancel()
        await asyncio.gather(*self._waiting, return_exceptions=True)


def _as_program_id(name: str) -> uuid.UUID | None:
    try:
        program_id = uuid.UUID(name)
    except ValueError:
        return None
    return program_id if str(program_id) == name else None
