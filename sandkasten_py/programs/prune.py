"""Deleting programs that have not been used for `program_ttl` seconds."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from sandkasten_py.programs.locks import KeyedRWLock
from sandkasten_py.programs.store import ProgramStore

log = logging.getLogger(__name__)


class Pruner:
    """Sweeps the programs directory; a program in use is deleted only once its users are done."""

    def __init__(self, store: ProgramStore, locks: KeyedRWLock, ttl: int) -> None:
        self.store = store
        self.locks = locks
        self.ttl = ttl
        self._waiting: set[asyncio.Task[None]] = set()

    def sweep(self) -> int:
        """Delete every expired program that is not in use; returns how many were deleted.

        For programs in use, a task waits for the write lock and checks again then.
        """
        deleted = 0
        for name in self.store.entries():
            program_id = _as_program_id(name)
            if program_id is None:  # not a program: nothing can hold a lock on it
                if self._delete_if_expired(name):
                    deleted += 1
                continue
            lease = self.locks.try_write(program_id)
            if lease is None:
                if all(t.get_name() != name for t in self._waiting):
                    task = asyncio.get_running_loop().create_task(self._prune_later(program_id), name=name)
                    self._waiting.add(task)
                    task.add_done_callback(self._waiting.discard)
                continue
            try:
                if self._delete_if_expired(name):
                    deleted += 1
            finally:
                lease.release()
        return deleted

    async def _prune_later(self, program_id: uuid.UUID) -> None:
        lease = await self.locks.write_unless(program_id, lambda: False)
        try:
            self._delete_if_expired(str(program_id))
        finally:
            lease.release()

    def _delete_if_expired(self, name: str) -> bool:
        last_run = self.store.last_run(name)
        if last_run is not None and last_run > time.time() - self.ttl:
            return False
        try:
            self.store.remove(name)
        except OSError:
            log.exception("cannot delete expired program %s", name)
            return False
        log.info("deleted expired program %s", name)
        return True

    async def run_forever(self, interval: float) -> None:
        """Sweep now and then every `interval` seconds."""
        while True:
            try:
                self.sweep()
            except OSError:
                log.exception("program sweep failed")
            await asyncio.sleep(interval)

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
