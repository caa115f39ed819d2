"""A cgroup per job, owned by the daemon: how it limits a job and learns why the job ended.

nsjail (and with it the whole job) is started inside a fresh cgroup that the daemon made. After
the job, the daemon reads the counters (peak memory, OOM kills, refused forks, CPU time), kills
anything left and removes the cgroup. nsjail's own cgroup flags are not used: nsjail deletes its
cgroups on exit, and with them the counters that say *why* a job ended.

Both hierarchies are supported:

* **v1** (our Debian machines): one directory per controller,
  ``<root>/{memory,pids,cpuacct}/<parent>/daemon-<pid>/<job>``. The parents are created by
  setup; each daemon makes its own ``daemon-<pid>`` and removes those of dead daemons.
* **v2** (NixOS): one directory, ``<root>/<parent>/<job>``. The daemon needs a delegated subtree
  (systemd ``Delegate=yes``). Because of v2's no-internal-processes rule the daemon moves itself
  into a leaf ``<delegated>/daemon`` and puts jobs under ``<delegated>/jobs``. This path is
  unit-tested on a fake tree only; no machine here has a usable v2 hierarchy.

The job cgroup also holds nsjail itself, so it may have one process more than the job's limit.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from sandkasten_py.sandbox.processes import process_alive

log = logging.getLogger(__name__)

V1_CONTROLLERS = ("memory", "pids", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
NSJAIL_PROCESSES = 1  # nsjail shares the job's cgroup


class CgroupError(Exception):
    """A cgroup could not be set up, entered or read."""


class CgroupStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of a finished job."""

    peak_memory_bytes: int
    oom_kills: int
    pids_limit_hits: int
    cpu_time_ns: int


def parse_keyed(text: str) -> dict[str, int]:
    """Parse a flat-keyed cgroup file (``key value`` per line), such as memory.events."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def parse_own_cgroup_v2(proc_self_cgroup: str) -> str:
    """Return the v2 path (``0::/path``) from the text of /proc/self/cgroup."""
    for line in proc_self_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise CgroupError("this process is not in a cgroup v2 hierarchy")


NO_LIMIT = 1 << 60  # v1 writes "no limit" as a huge multiple of the page size


def own_memory_limit(root: str, proc_self_cgroup: str | None = None) -> int | None:
    """The memory limit in bytes of the cgroup this process is in (v1, or v2 where there is no
    v1 memory controller), or None if it has none or it cannot be read. Ancestors' limits are
    not looked at."""
    try:
        text = proc_self_cgroup if proc_self_cgroup is not None else Path("/proc/self/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            candidate = Path(root) / path.lstrip("/") / "memory.max"
        elif "memory" in controllers.split(","):
            candidate = Path(root, "memory") / path.lstrip("/") / "memory.limit_in_bytes"
        else:
            continue
        try:
            value = candidate.read_text().strip()
        except OSError:
            continue
        return int(value) if value.isdigit() and int(value) < NO_LIMIT else None
    return None


class JobCgroup:
    """The cgroup(s) of one job: limit, enter, read, kill, remove."""

    def __init__(self, version: int, directories: dict[str, Path]) -> None:
        self.version = version
        # controller -> directory; on v2 all controllers share one directory
        self.directories = directories

    def _file(self, controller: str, name: str) -> Path:
        return self.directories[controller] / name

    def _write(self, controller: str, name: str, value: str) -> None:
        self._file(controller, name).write_text(value)

    def _read(self, controller: str, name: str) -> str:
        return _read_file(self._file(controller, name))

    def set_limits(self, memory_bytes: int, processes: int) -> None:
        """Limit memory (no swap) and the number of tasks."""
        pids = str(processes + NSJAIL_PROCESSES)
        if self.version == 1:
            # memsw is absent when the kernel accounts no swap; there is none to limit then.
            # (Opening a missing cgroup file for writing fails with EACCES, not ENOENT, so look
            # first.) The kernel refuses a memory limit above the memsw limit, so when a limit
            # is raised (a ready gate has the usual limits set), memsw goes first.
            names = ["memory.limit_in_bytes"]
            if self._file("memory", "memory.memsw.limit_in_bytes").exists():
                names.append("memory.memsw.limit_in_bytes")
                if memory_bytes > int(self._read("memory", "memory.limit_in_bytes")):
                    names.reverse()
            for name in names:
                self._write("memory", name, str(memory_bytes))
            self._write("pids", "pids.max", pids)
        else:
            self._write("memory", "memory.max", str(memory_bytes))
            if self._file("memory", "memory.swap.max").exists():
                self._write("memory", "memory.swap.max", "0")
            self._write("pids", "pids.max", pids)

    def enter(self, pid: int) -> None:
        """Move a process (before it starts the job) into every controller's cgroup."""
        for directory in self._distinct_directories():
            (directory / "cgroup.procs").write_text(str(pid))

    def stats(self) -> CgroupStats:
        """Read the counters of the finished job."""
        if self.version == 1:
            return CgroupStats(
                peak_memory_bytes=int(self._read("memory", "memory.max_usage_in_bytes")),
                oom_kills=parse_keyed(self._read("memory", "memory.oom_control")).get("oom_kill", 0),
                pids_limit_hits=parse_keyed(self._read("pids", "pids.events")).get("max", 0),
                cpu_time_ns=int(self._read("cpuacct", "cpuacct.usage")),
            )
        peak_file = self._file("memory", "memory.peak")  # kernel 5.19+
        return CgroupStats(
            peak_memory_bytes=int(peak_file.read_text()) if peak_file.exists() else 0,
            oom_kills=parse_keyed(self._read("memory", "memory.events")).get("oom_kill", 0),
            pids_limit_hits=parse_keyed(self._read("pids", "pids.events")).get("max", 0),
            cpu_time_ns=parse_keyed(self._read("cpu", "cpu.stat")).get("usage_usec", 0) * 1000,
        )

    def pids(self) -> list[int]:
        """Processes still in the cgroup (in any of its hierarchies)."""
        found: set[int] = set()
        for directory in self._distinct_directories():
            found.update(_procs(directory))
        return sorted(found)

    def occupied(self) -> bool:
        """Whether any process is still in the cgroup (found through one hierarchy, as in
        `kill_all`)."""
        return bool(_procs(self.directories["pids"]))

    def kill_all(self) -> None:
        """SIGKILL every process left in the cgroup.

        One hierarchy is enough to find them: a job's processes descend from a gate that was in
        all of them, and nothing in a jail can move itself (there is no cgroup file system).
        """
        if self.version == 2 and self._file("pids", "cgroup.kill").exists():
            self._write("pids", "cgroup.kill", "1")
            return
        _kill(_procs(self.directories["pids"]))

    def remove(self, attempts: int = 50) -> None:
        """Kill what is left and remove the cgroup directories."""
        for directory in self._distinct_directories():
            for attempt in range(attempts):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or attempt == attempts - 1:
                        raise CgroupError(f"cannot remove {directory}: {e.strerror}") from None
                    _kill(_procs(directory))
                    time.sleep(0.01)  # exiting tasks leave the cgroup asynchronously

    def _distinct_directories(self) -> Iterator[Path]:
        seen: set[Path] = set()
        for directory in self.directories.values():
            if directory not in seen:
                seen.add(directory)
                yield directory


def _read_file(path: Path) -> str:
    # os-level reads: the counters are read on the event loop after every job, and pathlib's
    # buffered text I/O costs several times the system calls.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def _procs(directory: Path) -> list[int]:
    try:
        return [int(pid) for pid in _read_file(directory / "cgroup.procs").split()]
    except FileNotFoundError:
        return []


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Cgroups:
    """Makes job cgroups under the daemon's parent cgroup."""

    def __init__(self, version: int, parents: dict[str, Path]) -> None:
        self.version = version
        self.parents = parents

    def create(self, name: str) -> JobCgroup:
        """Create the (empty, unlimited) cgroup of job `name`."""
        directories = {c: parent / name for c, parent in self.parents.items()}
        created: list[Path] = []
        try:
            for directory in dict.fromkeys(directories.values()):
                directory.mkdir()
                created.append(directory)
        except OSError as e:
            for directory in created:
                directory.rmdir()
            raise CgroupError(f"cannot create cgroup {name}: {e.strerror}") from None
        return JobCgroup(self.version, directories)

    def close(self) -> None:
        """Remove this daemon's own directories (v1), with any job cgroup still in them."""
        if self.version == 1:
            _remove_instance(self.parents)


def _remove_instance(directories: dict[str, Path]) -> None:
    """Kill and remove every job cgroup under `directories`, then the directories themselves."""
    names = {p.name for d in directories.values() if d.is_dir() for p in d.iterdir() if p.is_dir()}
    for name in names:
        jobs = {c: d / name for c, d in directories.items() if (d / name).is_dir()}
        JobCgroup(1, jobs).remove()
    JobCgroup(1, {c: d for c, d in directories.items() if d.is_dir()}).remove()


def _setup_v1(root: Path, parent: str, pid: int) -> Cgroups:
    # Each daemon works in a directory of its own, `daemon-<pid>`, so that several daemons (or
    # test daemons) can share one parent; directories of daemons that died are cleaned up here.
    bases = {c: root / c / parent for c in V1_CONTROLLERS}
    missing = [str(p) for p in bases.values() if not p.is_dir()]
    if missing:
        raise CgroupError(f"parent cgroups missing (run `make setup`): {', '.join(missing)}")
    instances = {d.name for base in bases.values() for d in base.iterdir()
                 if d.is_dir() and d.name.startswith("daemon-")}
    for name in instances:
        owner = name.removeprefix("daemon-")
        if owner.isdigit() and (int(owner) == pid or not process_alive(int(owner))):
            _remove_instance({c: base / name for c, base in bases.items()})
    own = {c: base / f"daemon-{pid}" for c, base in bases.items()}
    try:
        for directory in own.values():
            directory.mkdir()
    except OSError as e:
        raise CgroupError(f"cannot create {directory}: {e.strerror}") from None
    return Cgroups(1, own)


def setup_cgroups(root: str, parent: str, *, proc_self_cgroup: str | None = None,
                  pid: int | None = None) -> Cgroups:
    """Find the hierarchy under `root` and return the factory for job cgroups.

    On v1 the parent must exist in each controller (setup creates it). On v2 `parent` is either
    an absolute cgroup path that the daemon may manage, or relative: then the daemon's own
    (delegated) cgroup is used and the daemon moves itself into a `daemon` leaf.
    """
    root_path = Path(root)
    v2_controllers = root_path / "cgroup.controllers"
    if v2_controllers.exists():
        return _setup_v2(root_path, parent, proc_self_cgroup)
    return _setup_v1(root_path, parent, os.getpid() if pid is None else pid)


def _setup_v2(root: Path, parent: str, proc_self_cgroup: str | None) -> Cgroups:
    if parent.startswith("/"):
        delegated = root / parent.lstrip("/")
        delegated.mkdir(parents=True, exist_ok=True)
    else:
        if proc_self_cgroup is None:
            proc_self_cgroup = Path("/proc/self/cgroup").read_text()
        delegated = root / parse_own_cgroup_v2(proc_self_cgroup).lstrip("/")
        # No internal processes: leave the delegated cgroup for a leaf before enabling
        # controllers for its children.
        leaf = delegated / "daemon"
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
    available = (delegated / "cgroup.controllers").read_text().split()
    missing = [c for c in V2_CONTROLLERS if c not in available]
    if missing:
        raise CgroupError(f"controllers {missing} not delegated to {delegated}")
    enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    (delegated / "cgroup.subtree_control").write_text(enable)
    jobs = delegated / "jobs"
    jobs.mkdir(exist_ok=True)
    (jobs / "cgroup.subtree_control").write_text(enable)
    return Cgroups(2, {c: jobs for c in V2_CONTROLLERS})
