"""Unit tests of the program store, the pruner and the job directories (sandkasten_py.programs).

Real directories and, for job directories, real tmpfs mounts (so those tests need root); no
sandbox: these are the host-side steps around a job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandkasten_py.config import StorageLimits
from sandkasten_py.programs import JobDirs, ProgramStore, Pruner, StoreError
from sandkasten_py.programs.locks import KeyedRWLock
from sandkasten_py.programs.output import OutputCaps, OutputRejected
from sandkasten_py.programs.store import StoredProgram
from sandkasten_py.sandbox import tmpfs

PROGRAM = StoredProgram(environment="python", run_script="/run.sh", main_file="code.py", mounts=(), symlinks=())
CAPS = OutputCaps(max_bytes=1000, max_entries=10, max_depth=2)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture
def tmp_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary directory that uid 65534 can traverse, as the store insists for nsjail's
    sake (pytest's own base directory is private). Where no such place exists (a Nix build's
    private TMPDIR), that startup check is lifted: these tests are about the store, not it."""
    with tempfile.TemporaryDirectory(prefix="sandkasten-unit-") as directory:
        os.chmod(directory, 0o711)
        if not all(os.stat(p).st_mode & stat.S_IXOTH for p in [Path(directory), *Path(directory).parents]):
            monkeypatch.setattr("sandkasten_py.programs.store._check_traversable", lambda _: None)
        yield Path(directory)


@pytest.fixture
def store(tmp_path: Path) -> ProgramStore:
    store = ProgramStore(str(tmp_path / "programs"))
    store.prepare()
    return store


# --------------------------------------------------------------------------- the store


def test_a_saved_program_is_complete_and_readable(store: ProgramStore) -> None:
    pid = uuid.uuid4()
    assert not store.is_built(pid)
    store.save(pid, PROGRAM, sources=[("code.py", b"print(1)")])
    assert store.is_built(pid)
    assert store.load(pid) == PROGRAM
    assert Path(store.files_path(pid), "code.py").read_bytes() == b"print(1)"
    assert store.compile_result(pid) is None
    assert store.last_run(str(pid)) == pytest.approx(time.time(), abs=5)
    assert store.entries() == [str(pid)]


def test_a_rejected_output_leaves_nothing(store: ProgramStore, tmp_path: Path) -> None:
    """The copy breaks a cap: no program, no half-built directory."""
    output = tmp_path / "output"
    output.mkdir()
    (output / "big").write_bytes(b"x" * 1001)
    pid = uuid.uuid4()
    with pytest.raises(OutputRejected):
        store.save(pid, PROGRAM, output=(str(output), CAPS))
    assert not store.is_built(pid)
    assert sorted(os.listdir(store.programs_dir)) == [".key", ".lock"]


def test_save_replaces_an_unfinished_directory_of_the_same_id(store: ProgramStore) -> None:
    pid = uuid.uuid4()
    Path(store.path(pid), "files").mkdir(parents=True)
    Path(store.path(pid), "files", "stale").write_bytes(b"old")
    assert not store.is_built(pid)
    store.save(pid, PROGRAM, sources=[("code.py", b"new")])
    assert os.listdir(store.files_path(pid)) == ["code.py"]
    assert sorted(store.entries()) == [str(pid)]


def test_discard_takes_a_program_out_at_once(store: ProgramStore) -> None:
    pid = uuid.uuid4()
    store.save(pid, PROGRAM, sources=[("code.py", b"x")])
    trash = store.discard(str(pid))
    assert trash is not None and os.path.basename(trash).startswith(".trash-")
    assert not store.is_built(pid) and store.load(pid) is None
    assert store.discard(str(pid)) is None


def test_a_second_store_on_the_same_directory_is_refused_with_the_holders_pid(store: ProgramStore) -> None:
    other = ProgramStore(store.programs_dir)
    with pytest.raises(StoreError, match=rf"is in use by another sandkasten daemon \(pid {os.getpid()}\)"):
        other.prepare()
    store.close()
    other.prepare()  # free again once the first one is closed
    other.close()


# --------------------------------------------------------------------------- the pruner


def age(store: ProgramStore, name: str, seconds: int) -> None:
    Path(store.programs_dir, name, "last_run").write_text(str(int(time.time()) - seconds))


def test_the_pruner_deletes_expired_programs_and_litter_but_not_fresh_programs(store: ProgramStore) -> None:
    fresh, old = uuid.uuid4(), uuid.uuid4()
    for pid in (fresh, old):
        store.save(pid, PROGRAM, sources=[("code.py", b"x")])
    age(store, str(old), 100)
    Path(store.programs_dir, ".trash-leftover", "deep").mkdir(parents=True)
    Path(store.programs_dir, ".build-crashed").mkdir()
    deleted = asyncio.run(Pruner(store, KeyedRWLock(), ttl=60).sweep())
    assert deleted == 3
    assert sorted(os.listdir(store.programs_dir)) == [".key", ".lock", str(fresh)]


def test_the_pruner_stops_when_cancelled_just_after_being_woken(store: ProgramStore) -> None:
    """A build wakes the pruner; a shutdown right after must not wait forever (asyncio.wait_for
    on Python 3.11 lost such a cancellation)."""
    async def woken_then_cancelled() -> None:
        pruner = Pruner(store, KeyedRWLock(), ttl=60)
        task = asyncio.create_task(pruner.run_forever(3600))
        for _ in range(20):
            await asyncio.sleep(0.01)
            pruner.wake()
            await asyncio.sleep(0)
        pruner.wake()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)

    asyncio.run(woken_then_cancelled())


def test_the_key_is_made_once_kept_private_and_read_again(store: ProgramStore) -> None:
    key_path = Path(store.programs_dir, ".key")
    assert len(store.key) == 32 and key_path.read_bytes() == store.key
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    store.close()
    again = ProgramStore(store.programs_dir)
    again.prepare()
    assert again.key == store.key
    again.close()
    key_path.write_bytes(b"short")  # a broken key is replaced
    third = ProgramStore(store.programs_dir)
    third.prepare()
    assert len(third.key) == 32 and third.key != store.key
    third.close()


def test_the_pruner_waits_for_a_program_in_use(store: ProgramStore) -> None:
    pid = uuid.uuid4()
    store.save(pid, PROGRAM, sources=[("code.py", b"x")])
    age(store, str(pid), 100)

    async def scenario() -> tuple[bool, bool]:
        locks = KeyedRWLock()
        pruner = Pruner(store, locks, ttl=60)
        lease = await locks.read(pid)
        assert await pruner.sweep() == 0
        during = store.is_built(pid)
        lease.release()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if not store.is_built(pid):
                break
        await pruner.close()
        return during, store.is_built(pid)

    assert asyncio.run(scenario()) == (True, False)


@needs_root
def test_an_error_with_one_entry_is_logged_and_the_sweep_goes_on(store: ProgramStore, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A program that cannot be deleted (here: a mount point inside it) does not stop the others."""
    stuck, other = uuid.uuid4(), uuid.uuid4()
    for pid in (stuck, other):
        store.save(pid, PROGRAM, sources=[("code.py", b"x")])
        age(store, str(pid), 100)
    point = Path(store.files_path(stuck), "mnt")
    point.mkdir()
    tmpfs.mount_tmpfs(str(point), size_bytes=100_000, inodes=5)
    try:
        with caplog.at_level(logging.ERROR, logger="sandkasten_py.programs.prune"):
            asyncio.run(Pruner(store, KeyedRWLock(), ttl=60).sweep())
        assert not store.is_built(other)
        assert "cannot prune" in caplog.text
    finally:
        for mount in tmpfs.mounts_below(store.programs_dir):
            tmpfs.unmount(mount)
    asyncio.run(Pruner(store, KeyedRWLock(), ttl=60).sweep())  # and the next sweep finishes the job
    assert sorted(os.listdir(store.programs_dir)) == [".key", ".lock"]


def test_the_store_knows_what_its_programs_take_on_disk(store: ProgramStore) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    store.save(first, PROGRAM, sources=[("code.py", b"x" * 100_000)])
    one = store.total_size()
    assert one >= 100_000
    store.save(second, PROGRAM, sources=[("code.py", b"x" * 100_000)])
    assert store.total_size() == 2 * one
    store.discard(str(first))
    assert store.total_size() == one
    fresh = ProgramStore(store.programs_dir)  # a restart: sizes are measured again
    fresh.measure()
    assert fresh.total_size() == one


def test_over_budget_the_least_recently_used_programs_not_in_use_go_first(store: ProgramStore) -> None:
    """Five programs of about 100 KB, a budget for two: the oldest unused ones are deleted, the
    oldest one is in use and stays (the store may stay over budget because of it)."""
    ids = [uuid.uuid4() for _ in range(5)]
    for age_s, pid in zip((500, 400, 300, 200, 100), ids, strict=True):
        store.save(pid, PROGRAM, sources=[("code.py", b"x" * 100_000)])
        age(store, str(pid), age_s)
    size = store.total_size() // 5

    async def scenario() -> int:
        locks = KeyedRWLock()
        lease = await locks.read(ids[0])  # the oldest is being run
        try:
            return await Pruner(store, locks, ttl=3600, budget_bytes=2 * size).make_room()
        finally:
            lease.release()

    assert asyncio.run(scenario()) == 3
    assert [store.is_built(pid) for pid in ids] == [True, False, False, False, True]
    assert store.total_size() == 2 * size


def test_within_budget_nothing_goes(store: ProgramStore) -> None:
    for _ in range(3):
        store.save(uuid.uuid4(), PROGRAM, sources=[("code.py", b"x")])
    assert asyncio.run(Pruner(store, KeyedRWLock(), ttl=3600, budget_bytes=10**9).make_room()) == 0
    assert len(store.entries()) == 3


# --------------------------------------------------------------------------- job directories


STORAGE = StorageLimits(program_size=2, program_files=5, program_depth=3, tmp_files=7)


@needs_root
def test_a_job_directory_has_its_files_and_capped_tmpfs_mounts_and_goes_afterwards(tmp_path: Path) -> None:
    job_dirs = JobDirs(str(tmp_path / "jobs"), STORAGE)
    assert job_dirs.prepare() == []

    async def scenario() -> str:
        async with job_dirs.job([("in.txt", b"hello")], tmp_mb=1, compiling=True) as job:
            assert Path(job.box, "in.txt").read_bytes() == b"hello"
            assert job.tmp is not None and job.program is not None
            tmp, program = os.statvfs(job.tmp), os.statvfs(job.program)
            assert (tmp.f_blocks * tmp.f_frsize, tmp.f_files) == (1_003_520, 8)  # 1 MB in pages
            assert (program.f_blocks * program.f_frsize, program.f_files) == (2_002_944, 6)
        await job_dirs.drain()  # removed in the background, after the job
        return os.path.dirname(job.box)

    path = asyncio.run(scenario())
    assert not os.path.exists(path)
    assert tmpfs.mounts_below(job_dirs.jobs_dir) == []
    job_dirs.close()


@needs_root
def test_a_job_directory_goes_when_the_job_fails_and_run_steps_have_no_program_mount(tmp_path: Path) -> None:
    job_dirs = JobDirs(str(tmp_path / "jobs"), STORAGE)
    job_dirs.prepare()

    async def scenario() -> None:
        try:
            async with job_dirs.job([], tmp_mb=0, compiling=False) as job:
                assert (job.tmp, job.program) == (None, None)
                raise RuntimeError("the job failed")
        finally:
            await job_dirs.drain()

    with pytest.raises(RuntimeError):
        asyncio.run(scenario())
    assert os.listdir(job_dirs.jobs_dir) == [".lock"]
    job_dirs.close()


@needs_root
def test_prepare_unmounts_and_returns_what_a_crashed_run_left(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    (jobs / "crashed" / "tmp").mkdir(parents=True)
    tmpfs.mount_tmpfs(str(jobs / "crashed" / "tmp"), size_bytes=100_000, inodes=5)
    (jobs / "crashed" / "box" / "deep").mkdir(parents=True)
    job_dirs = JobDirs(str(jobs), STORAGE)
    try:
        leftovers = job_dirs.prepare()
        assert leftovers == [str(jobs / "crashed")]
        assert tmpfs.mounts_below(str(jobs)) == []
        asyncio.run(job_dirs.remove_leftovers(leftovers))
        assert os.listdir(jobs) == [".lock"]
        with pytest.raises(StoreError, match="in use by another sandkasten daemon"):
            JobDirs(str(jobs), STORAGE).prepare()
    finally:
        job_dirs.close()
        for point in tmpfs.mounts_below(str(jobs)):
            tmpfs.unmount(point)
