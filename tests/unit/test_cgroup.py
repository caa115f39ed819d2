"""Unit tests of the per-job cgroups (sandkasten_py.sandbox.cgroup), on fake trees in tmp_path.

Cgroups are how a job is limited and how the daemon learns *why* it ended (OOM kill, refused
fork). The real hierarchies need root, so the file layout of cgroup v1 and v2 is imitated with
plain directories and files; what is checked is which files are read and written with what.
"""

from __future__ import annotations

import errno
import os
import pathlib
from pathlib import Path

import pytest

from sandkasten_py.sandbox.cgroup import (
    CgroupError,
    Cgroups,
    JobCgroup,
    parse_keyed,
    parse_own_cgroup_v2,
    setup_cgroups,
)

ENABLE = "+memory +pids +cpu"
OWN_V2 = "/system.slice/sandkasten.service"


# ------------------------------------------------------------------ parsers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n", {"low": 0, "high": 0, "max": 3, "oom": 1, "oom_kill": 2}),
        ("usage_usec 1500\nuser_usec 1000\nsystem_usec 500", {"usage_usec": 1500, "user_usec": 1000,
                                                             "system_usec": 500}),
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 4}),
        ("max 18446744073709551615\n", {"max": 2**64 - 1}),
        ("name text\nnum 7\n", {"num": 7}),  # non-numeric values are skipped
        ("neg -1\n", {"neg": -1}),
        ("\n\nmax 1\n\n", {"max": 1}),
    ],
)
def test_parse_keyed(text: str, expected: dict[str, int]) -> None:
    """Flat-keyed files (`key value` per line) become a dict of integers."""
    assert parse_keyed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0::/system.slice/sandkasten.service\n", "/system.slice/sandkasten.service"),
        ("0::/\n", "/"),
        ("12:pids:/x\n11:memory:/x\n1:name=systemd:/y\n0::/user.slice/u.scope\n", "/user.slice/u.scope"),
    ],
)
def test_parse_own_cgroup_v2(text: str, expected: str) -> None:
    """The unified-hierarchy line `0::<path>` gives the process's own v2 cgroup."""
    assert parse_own_cgroup_v2(text) == expected


@pytest.mark.parametrize("text", ["", "12:pids:/x\n11:memory:/x\n", "1:name=systemd:/0::/x\n"])
def test_parse_own_cgroup_v2_without_a_v2_line(text: str) -> None:
    """A pure v1 process (no `0::` line) is an error, not an empty path."""
    with pytest.raises(CgroupError):
        parse_own_cgroup_v2(text)


# ------------------------------------------------------------------ setup, v1


def make_v1(root: Path, parent: str = "sandkasten",
            controllers: tuple[str, ...] = ("memory", "pids", "cpuacct")) -> None:
    for controller in controllers:
        (root / controller / parent).mkdir(parents=True)


PID = 4242  # the daemon's pid, passed in so that the directory names are known


def own_dirs(root: Path, pid: int = PID) -> dict[str, Path]:
    return {c: root / c / "sandkasten" / f"daemon-{pid}" for c in ("memory", "pids", "cpuacct")}


def dead_pid() -> int:
    """A pid no process can have: one above the kernel's pid_max."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def test_setup_v1_makes_a_directory_of_the_daemon_in_each_parent(tmp_path: Path) -> None:
    """With one parent per controller (made by `make setup`), the v1 hierarchy is used, and the
    daemon works in its own `daemon-<pid>` directory so that several daemons can share a parent."""
    make_v1(tmp_path)
    cgroups = setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    assert cgroups.version == 1
    assert cgroups.parents == own_dirs(tmp_path)
    assert all(d.is_dir() for d in own_dirs(tmp_path).values())


@pytest.mark.parametrize("present", [(), ("memory",), ("memory", "pids"), ("pids", "cpuacct")])
def test_setup_v1_missing_parents_are_named(tmp_path: Path, present: tuple[str, ...]) -> None:
    """Each missing parent is named in the error, so the operator knows what setup is missing."""
    make_v1(tmp_path, controllers=present)
    with pytest.raises(CgroupError) as info:
        setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    for controller in ("memory", "pids", "cpuacct"):
        assert (str(tmp_path / controller / "sandkasten") in str(info.value)) is (controller not in present)


def test_setup_v1_removes_directories_of_dead_daemons_only(tmp_path: Path) -> None:
    """Leftovers of a crashed daemon (and their job cgroups) are removed; a live daemon's stay."""
    make_v1(tmp_path)
    dead = own_dirs(tmp_path, dead_pid())
    alive = own_dirs(tmp_path, os.getppid())
    for directory in [*dead.values(), *alive.values()]:
        (directory / "old-job").mkdir(parents=True)
    (tmp_path / "memory" / "sandkasten" / "daemon-notapid").mkdir()
    setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    assert not any(d.exists() for d in dead.values())
    assert all((d / "old-job").is_dir() for d in alive.values())
    assert (tmp_path / "memory" / "sandkasten" / "daemon-notapid").is_dir()


def test_setup_v1_starts_clean_after_a_crash_with_the_same_pid(tmp_path: Path) -> None:
    """A directory with the daemon's own pid is a leftover (pid reused after a crash): emptied."""
    make_v1(tmp_path)
    for directory in own_dirs(tmp_path).values():
        (directory / "old-job").mkdir(parents=True)
    setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    assert all(d.is_dir() and not any(d.iterdir()) for d in own_dirs(tmp_path).values())


def test_v1_close_removes_the_daemon_directories(tmp_path: Path) -> None:
    """At shutdown the daemon removes its own directories, job cgroups included."""
    make_v1(tmp_path)
    cgroups = setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    cgroups.create("job-1")
    cgroups.close()
    assert not any(d.exists() for d in own_dirs(tmp_path).values())
    assert all((tmp_path / c / "sandkasten").is_dir() for c in ("memory", "pids", "cpuacct"))


def test_v1_create_makes_one_directory_per_controller(tmp_path: Path) -> None:
    """A job cgroup is a new directory under every controller's daemon directory."""
    make_v1(tmp_path)
    job = setup_cgroups(str(tmp_path), "sandkasten", pid=PID).create("job-1")
    assert job.version == 1
    for controller, directory in own_dirs(tmp_path).items():
        assert job.directories[controller] == directory / "job-1"
        assert job.directories[controller].is_dir()


def test_v1_create_twice_is_an_error_and_leaves_nothing_new(tmp_path: Path) -> None:
    """A name clash is an error; directories made before the failure are removed again."""
    make_v1(tmp_path)
    cgroups = setup_cgroups(str(tmp_path), "sandkasten", pid=PID)
    (own_dirs(tmp_path)["pids"] / "clash").mkdir()
    with pytest.raises(CgroupError):
        cgroups.create("clash")
    assert not (own_dirs(tmp_path)["memory"] / "clash").exists()
    assert not (own_dirs(tmp_path)["cpuacct"] / "clash").exists()


# ------------------------------------------------------------------ setup, v2


def make_v2(root: Path, delegated: str = OWN_V2, controllers: str = "cpuset cpu io memory hugetlb pids") -> Path:
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    directory = root / delegated.lstrip("/")
    directory.mkdir(parents=True)
    (directory / "cgroup.controllers").write_text(controllers + "\n")
    return directory


def test_setup_v2_delegated_subtree(tmp_path: Path) -> None:
    """The daemon leaves its delegated cgroup for a `daemon` leaf, then enables the controllers
    for `jobs`, under which job cgroups are created (v2's no-internal-processes rule)."""
    delegated = make_v2(tmp_path)
    cgroups = setup_cgroups(str(tmp_path), "sandkasten", proc_self_cgroup=f"0::{OWN_V2}\n")
    assert cgroups.version == 2
    assert (delegated / "daemon" / "cgroup.procs").read_text() == str(os.getpid())
    assert (delegated / "cgroup.subtree_control").read_text() == ENABLE
    jobs = delegated / "jobs"
    assert (jobs / "cgroup.subtree_control").read_text() == ENABLE
    assert set(cgroups.parents) == {"memory", "pids", "cpu"}
    assert set(cgroups.parents.values()) == {jobs}
    job = cgroups.create("job-1")
    assert (jobs / "job-1").is_dir()
    assert set(job.directories.values()) == {jobs / "job-1"}


def test_setup_v2_is_repeatable(tmp_path: Path) -> None:
    """A restarted daemon finds `daemon` and `jobs` already there and carries on."""
    make_v2(tmp_path)
    setup_cgroups(str(tmp_path), "sandkasten", proc_self_cgroup=f"0::{OWN_V2}\n")
    assert setup_cgroups(str(tmp_path), "sandkasten", proc_self_cgroup=f"0::{OWN_V2}\n").version == 2


@pytest.mark.parametrize(("available", "missing"), [("cpu io", ["memory", "pids"]),
                                                    ("memory cpu", ["pids"]),
                                                    ("", ["memory", "pids", "cpu"])])
def test_setup_v2_controllers_not_delegated(tmp_path: Path, available: str, missing: list[str]) -> None:
    """Without memory, pids and cpu delegated, jobs could not be limited: refuse, naming them."""
    make_v2(tmp_path, controllers=available)
    with pytest.raises(CgroupError) as info:
        setup_cgroups(str(tmp_path), "sandkasten", proc_self_cgroup=f"0::{OWN_V2}\n")
    for controller in missing:
        assert controller in str(info.value)


def test_setup_v2_not_in_a_v2_cgroup(tmp_path: Path) -> None:
    """A v2 root but a process without a `0::` line is a CgroupError."""
    make_v2(tmp_path)
    with pytest.raises(CgroupError):
        setup_cgroups(str(tmp_path), "sandkasten", proc_self_cgroup="3:memory:/x\n")


def test_setup_v2_absolute_parent(tmp_path: Path) -> None:
    """An absolute parent is used as given; the daemon stays where it is (no `daemon` leaf)."""
    delegated = make_v2(tmp_path, delegated="/sandkasten.slice/jobs-parent")
    cgroups = setup_cgroups(str(tmp_path), "/sandkasten.slice/jobs-parent",
                            proc_self_cgroup=f"0::{OWN_V2}\n")
    assert cgroups.version == 2
    assert not (delegated / "daemon").exists()
    assert not (tmp_path / OWN_V2.lstrip("/") / "daemon").exists()
    assert (delegated / "cgroup.subtree_control").read_text() == ENABLE
    assert set(cgroups.parents.values()) == {delegated / "jobs"}


# ------------------------------------------------------------------ JobCgroup, v1


UNLIMITED = 9223372036854771712  # what v1 reports for "no limit"


def v1_job(root: Path) -> JobCgroup:
    directories = {c: root / c / "sandkasten" / "job" for c in ("memory", "pids", "cpuacct")}
    for directory in directories.values():
        directory.mkdir(parents=True)
    return JobCgroup(1, directories)


def test_v1_set_limits(tmp_path: Path) -> None:
    """Memory and memory+swap get the same limit (no swap); pids has one extra for nsjail."""
    job = v1_job(tmp_path)
    memory = job.directories["memory"]
    (memory / "memory.limit_in_bytes").write_text(f"{UNLIMITED}\n")
    (memory / "memory.memsw.limit_in_bytes").write_text(f"{UNLIMITED}\n")  # swap is accounted
    job.set_limits(256_000_000, 64)
    assert (memory / "memory.limit_in_bytes").read_text() == "256000000"
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == "256000000"
    assert (job.directories["pids"] / "pids.max").read_text() == "65"


def test_v1_limits_can_be_raised_and_lowered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ready gate's cgroup has the usual limits set; a job with other limits changes them.

    The kernel refuses (EINVAL) a memory limit above the memory+swap limit, and a memory+swap
    limit below the memory limit, so the order of the two writes depends on the direction. The
    fake applies the kernel's rule.
    """
    job = v1_job(tmp_path)
    memory = job.directories["memory"]
    limit, memsw = memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"
    limit.write_text(f"{UNLIMITED}\n")
    memsw.write_text(f"{UNLIMITED}\n")
    original = pathlib.Path.write_text

    def kernel_write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self == limit and int(data) > int(memsw.read_text()):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(self))
        if self == memsw and int(data) < int(limit.read_text()):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(self))
        return original(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "write_text", kernel_write_text)
    for memory_bytes in (256_000_000, 1_024_000_000, 64_000_000, 64_000_000, 512_000_000):
        job.set_limits(memory_bytes, 10)
        assert (int(limit.read_text()), int(memsw.read_text())) == (memory_bytes, memory_bytes)


def test_v1_set_limits_without_swap_accounting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without swap accounting the kernel has no `memory.memsw.limit_in_bytes`; that is fine.

    cgroupfs (kernfs) cannot create files: opening a missing control file for writing fails with
    EACCES, not ENOENT (checked on a v1 host: ``open(<cgroup>/missing, 'w')`` → PermissionError).
    The fake reproduces that, so the limits must still be set without the memsw file.
    """
    job = v1_job(tmp_path)
    original = pathlib.Path.write_text

    def kernfs_write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self.is_relative_to(tmp_path) and not self.exists():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return original(self, data, *args, **kwargs)  # type: ignore[arg-type]

    for directory in job.directories.values():
        for name in ("memory.limit_in_bytes", "pids.max", "cgroup.procs"):
            (directory / name).write_text("")
    monkeypatch.setattr(pathlib.Path, "write_text", kernfs_write_text)
    job.set_limits(128_000_000, 10)
    monkeypatch.undo()
    assert (job.directories["memory"] / "memory.limit_in_bytes").read_text() == "128000000"
    assert (job.directories["pids"] / "pids.max").read_text() == "11"


def test_v1_stats(tmp_path: Path) -> None:
    """Peak memory, OOM kills, refused forks and CPU time come from their v1 files."""
    job = v1_job(tmp_path)
    memory, pids, cpu = (job.directories[c] for c in ("memory", "pids", "cpuacct"))
    (memory / "memory.max_usage_in_bytes").write_text("123456789\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (pids / "pids.events").write_text("max 7\n")
    (cpu / "cpuacct.usage").write_text("987654321\n")
    stats = job.stats()
    assert (stats.peak_memory_bytes, stats.oom_kills, stats.pids_limit_hits, stats.cpu_time_ns) == (
        123456789, 3, 7, 987654321)


def test_v1_stats_on_kernels_without_oom_kill_counter(tmp_path: Path) -> None:
    """Older kernels have no `oom_kill` line; that reads as 0 kills."""
    job = v1_job(tmp_path)
    (job.directories["memory"] / "memory.max_usage_in_bytes").write_text("1\n")
    (job.directories["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    (job.directories["pids"] / "pids.events").write_text("max 0\n")
    (job.directories["cpuacct"] / "cpuacct.usage").write_text("0\n")
    assert job.stats().oom_kills == 0


def test_v1_enter_writes_the_pid_into_every_controller(tmp_path: Path) -> None:
    """A process must be in the memory, pids and cpuacct cgroups of the job."""
    job = v1_job(tmp_path)
    job.enter(4242)
    for directory in job.directories.values():
        assert (directory / "cgroup.procs").read_text() == "4242"


def test_v1_pids_collects_all_controllers(tmp_path: Path) -> None:
    """Processes listed in any controller count, once each."""
    job = v1_job(tmp_path)
    (job.directories["memory"] / "cgroup.procs").write_text("10\n20\n")
    (job.directories["pids"] / "cgroup.procs").write_text("20\n30\n")
    assert job.pids() == [10, 20, 30]


def test_remove_deletes_empty_job_directories_and_tolerates_missing_ones(tmp_path: Path) -> None:
    """An empty job cgroup is removed; removing an already-removed one is not an error."""
    job = v1_job(tmp_path)
    job.directories["cpuacct"].rmdir()
    job.remove()
    assert not any(d.exists() for d in job.directories.values())
    job.remove()


# ------------------------------------------------------------------ JobCgroup, v2


def v2_job(root: Path) -> JobCgroup:
    directory = root / "jobs" / "job"
    directory.mkdir(parents=True)
    return JobCgroup(2, {c: directory for c in ("memory", "pids", "cpu")})


def test_v2_set_limits(tmp_path: Path) -> None:
    """memory.max in bytes, no swap at all, pids one above the job's processes (nsjail)."""
    job = v2_job(tmp_path)
    (tmp_path / "jobs" / "job" / "memory.swap.max").touch()  # swap is accounted
    job.set_limits(64_000_000, 1)
    directory = tmp_path / "jobs" / "job"
    assert (directory / "memory.max").read_text() == "64000000"
    assert (directory / "memory.swap.max").read_text() == "0"
    assert (directory / "pids.max").read_text() == "2"


def test_v2_stats(tmp_path: Path) -> None:
    """memory.peak, memory.events oom_kill, pids.events max, cpu.stat usage_usec (→ ns)."""
    job = v2_job(tmp_path)
    directory = tmp_path / "jobs" / "job"
    (directory / "memory.peak").write_text("5000000\n")
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n")
    (directory / "pids.events").write_text("max 4\n")
    (directory / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    stats = job.stats()
    assert (stats.peak_memory_bytes, stats.oom_kills, stats.pids_limit_hits, stats.cpu_time_ns) == (
        5_000_000, 1, 4, 2_500_000)


def test_v2_stats_without_memory_peak(tmp_path: Path) -> None:
    """Kernels before 5.19 have no memory.peak; peak memory then reads as 0 instead of failing."""
    job = v2_job(tmp_path)
    directory = tmp_path / "jobs" / "job"
    (directory / "memory.events").write_text("oom_kill 0\n")
    (directory / "pids.events").write_text("max 0\n")
    (directory / "cpu.stat").write_text("usage_usec 1\n")
    assert job.stats().peak_memory_bytes == 0
    assert job.stats().cpu_time_ns == 1000


def test_v2_enter_writes_the_pid_once(tmp_path: Path) -> None:
    """All controllers share one directory on v2; the pid is written there."""
    job = v2_job(tmp_path)
    job.enter(99)
    assert (tmp_path / "jobs" / "job" / "cgroup.procs").read_text() == "99"


def test_v2_kill_all_uses_cgroup_kill(tmp_path: Path) -> None:
    """Where the kernel offers `cgroup.kill`, one write kills the whole job."""
    job = v2_job(tmp_path)
    kill = tmp_path / "jobs" / "job" / "cgroup.kill"
    kill.write_text("")
    job.kill_all()
    assert kill.read_text() == "1"


def test_cgroups_factory_keeps_version(tmp_path: Path) -> None:
    """Job cgroups carry the hierarchy version of the factory (it decides the file names)."""
    (tmp_path / "jobs").mkdir()
    cgroups = Cgroups(2, {c: tmp_path / "jobs" for c in ("memory", "pids", "cpu")})
    assert cgroups.create("j").version == 2
