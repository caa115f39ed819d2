"""The working directories of jobs, one per compile or run step, under `jobs_dir`.

``<jobs_dir>/<random>/``:

| entry      | content                                                                      |
|------------|------------------------------------------------------------------------------|
| `box/`     | the request's files, written by the daemon (mounted read-only at `/box`)     |
| `tmp/`     | a tmpfs of the job's `tmpfs` limit and `storage_limits.tmp_files` inodes (`/tmp`) |
| `program/` | compile steps only: a tmpfs of `storage_limits.program_size` MB and          |
|            | `program_files` inodes (`/program`), copied into the store after a success  |

Nothing a job writes lands on the host's disk: both writable places are capped tmpfs mounts,
which this module makes before the job and unmounts after it. Creating happens in a thread;
removing too, after the request has its answer. The directory is locked for as long as a daemon uses it; at startup, whatever an
earlier run left (mounts included) is removed in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sandkasten_py import safefs
from sandkasten_py.background import Background
from sandkasten_py.offloop import to_the_end
from sandkasten_py.config import StorageLimits
from sandkasten_py.programs.store import LOCK, prepare_directory
from sandkasten_py.sandbox import MB, tmpfs

log = logging.getLogger(__name__)

BOX = "box"
TMP = "tmp"
PROGRAM = "program"


@dataclass(frozen=True)
class JobDir:
    """The host directories of one job."""

    box: str
    """Mounted read-only at `/box`, holding the request's files (empty: a job without a
    directory, whose files are only in `files`)."""
    tmp: str | None
    """The `/tmp` tmpfs, or None when the job's `tmpfs` limit is 0 (or it has no directory)."""
    program: str | None
    """Compile steps: the `/program` tmpfs the build output is collected from."""
    files: tuple[tuple[str, bytes], ...] = ()
    """The request's files, as data."""


class JobDirs:
    """Makes and removes job directories under `jobs_dir`."""

    def __init__(self, jobs_dir: str, storage: StorageLimits, *, mount_tmpfs: bool = True) -> None:
        self.jobs_dir = jobs_dir
        self.storage = storage
        # False: `tmp/` and `program/` are plain directories, uncapped. Only for tests of the
        # layers above with a fake runner, which run no job and need no root.
        self.mount_tmpfs = mount_tmpfs
        self._lock_fd: int | None = None
        self._removals = Background("job-dir-removal", "cannot remove a job directory (the next start does)")

    def prepare(self) -> list[str]:
        """Lock and create the directory, and unmount what an earlier run left mounted there.

        Returns the leftover entries, to be deleted with `remove_leftovers` (in the background:
        a crashed run may have left big trees).
        """
        self._lock_fd = prepare_directory(self.jobs_dir)
        for point in tmpfs.mounts_below(self.jobs_dir):
            log.info("unmounting %s, left by an earlier run", point)
            tmpfs.unmount(point)
        return [os.path.join(self.jobs_dir, name) for name in os.listdir(self.jobs_dir) if name != LOCK]

    async def remove_leftovers(self, paths: list[str]) -> None:
        """Delete what an earlier run left, one entry at a time, off the event loop."""
        for path in paths:
            try:
                await asyncio.to_thread(safefs.remove_tree, path)
            except OSError:
                log.exception("cannot delete %s, left by an earlier run", path)

    def close(self) -> None:
        """Release the directory."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.asynccontextmanager
    async def job(self, files: list[tuple[str, bytes]], *, tmp_mb: int, compiling: bool) -> AsyncIterator[JobDir]:
        """A fresh job directory holding `files`, with its tmpfs mounts; all removed afterwards."""
        path = os.path.join(self.jobs_dir, uuid.uuid4().hex)
        job = JobDir(
            box=os.path.join(path, BOX),
            tmp=os.path.join(path, TMP) if tmp_mb > 0 else None,
            program=os.path.join(path, PROGRAM) if compiling else None,
            files=tuple(files),
        )
        try:
            await to_the_end(self._create, path, job, files, tmp_mb)
            yield job
        finally:
            # Unmounting and deleting take a millisecond or two: not on the request's path.
            self._removals.submit(self._remove, path, job)

    async def drain(self) -> None:
        """Wait until the job directories being removed are gone."""
        await self._removals.drain()

    def _create(self, path: str, job: JobDir, files: list[tuple[str, bytes]], tmp_mb: int) -> None:
        os.mkdir(path, 0o711)
        os.mkdir(job.box, 0o755)
        safefs.write_files(job.box, files)
        if job.tmp is not None:
            os.mkdir(job.tmp, 0o700)
            if self.mount_tmpfs:
                tmpfs.mount_tmpfs(job.tmp, size_bytes=tmp_mb * MB, inodes=self.storage.tmp_files + 1)
        if job.program is not None:
            os.mkdir(job.program, 0o700)
            if self.mount_tmpfs:
                tmpfs.mount_tmpfs(job.program, size_bytes=self.storage.program_size * MB,
                                  inodes=self.storage.program_files + 1, mode=0o755)

    def _remove(self, path: str, job: JobDir) -> None:
        for point in (job.tmp, job.program):
            if point is not None and os.path.ismount(point):
                tmpfs.unmount(point)
        safefs.remove_tree(path)
