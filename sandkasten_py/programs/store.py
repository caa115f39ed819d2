"""Where built programs live: one directory per program, complete or absent.

``<programs_dir>/<program id>/``:

| entry            | content                                                               |
|------------------|-----------------------------------------------------------------------|
| `files/`         | the compile output, or the sources (mounted read-only at `/program`)  |
| `program.json`   | how to run it: environment, run script, main file, mounts, symlinks   |
| `compile_result` | the compile step's RunResult as JSON (compiled environments only)     |
| `ok`             | empty marker: the build is complete                                   |
| `last_run`       | Unix seconds of the last build or run, for pruning                    |

A program is put together in `.build-<random>` and renamed into place, and deleted by being
renamed to `.trash-<random>` first, so a crash at any point leaves either a complete program or
an entry that is not a program, which the pruner deletes. No job ever writes here (compile steps
write to a tmpfs, copied in with caps by output.py); still, every access goes through `safefs`.
The directory is locked (`.lock`, with the owner's pid) for as long as a daemon uses it, and
holds the store's secret key (`.key`, 32 random bytes made at the first start): names that let
outsiders reach a program without knowing its sources are keyed with it (tokens.py), so they
survive restarts as the programs do. `.cache/` holds what the daemon derives from programs
(compiled WebAssembly modules, wasm/modules.py), for the daemon only. The
store knows the disk space each program takes (measured when it is saved, and for the programs
of an earlier run by `measure`), so that the pruner can keep all of them within a budget.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
import uuid

import msgspec

from sandkasten_py import safefs
from sandkasten_py.programs.artifacts import Artifact, list_artifacts
from sandkasten_py.programs.output import OutputCaps, copy_output
from sandkasten_py.sandbox import DEFAULT_RUNNER, Mount, Symlink
from sandkasten_py.sandbox.reach import closed_to_jobs
from sandkasten_py.schemas import RunResult

NOBODY = 65534  # the job's uid and gid outside its namespace

OK = "ok"
LAST_RUN = "last_run"
PROGRAM = "program.json"
COMPILE_RESULT = "compile_result"
FILES = "files"
LOCK = ".lock"
KEY = ".key"
CACHES = ".cache"
KEY_BYTES = 32
BUILDING = ".build-"
TRASH = ".trash-"
TOUCHES_REMEMBERED = 4096
ARTIFACT_LISTINGS_KEPT = 1024


class StoreError(Exception):
    """The programs or jobs directory cannot be used."""


def prepare_directory(directory: str) -> int:
    """Create `directory` if needed, check that jobs can reach it, and lock it for this process.

    Returns the descriptor that holds the lock (closing it releases the lock). Two daemons must
    never share a directory: one empties the jobs directory at startup, and both prune programs.
    """
    os.makedirs(directory, mode=0o711, exist_ok=True)
    if not os.path.isdir(directory) or os.path.islink(directory):
        raise StoreError(f"{directory} is not a directory")
    os.chmod(directory, 0o711)
    _check_traversable(directory)
    fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(f"{directory} is in use by another sandkasten daemon (pid {holder}); give "
                         "each daemon its own programs_dir and jobs_dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _check_traversable(directory: str) -> None:
    closed = closed_to_jobs(directory)
    if closed is not None:
        mode = stat.filemode(os.stat(closed).st_mode)
        raise StoreError(f"{directory}: jobs (uid {NOBODY}) cannot traverse {closed} "
                         f"(mode {mode}); run `chmod o+x {closed}`")


def _read_or_make_key(path: str) -> bytes:
    """The key in `path`, made first if there is none (or a broken one: a new key only
    invalidates outstanding tokens)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            key = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    key = os.urandom(KEY_BYTES)
    temporary = f"{path}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return key


class StoredProgram(msgspec.Struct, frozen=True, kw_only=True):
    """What a run step needs to know about a built program."""

    environment: str
    run_script: str
    main_file: str
    mounts: tuple[Mount, ...]
    symlinks: tuple[Symlink, ...]
    runner: str = DEFAULT_RUNNER
    """The runner that built it and runs it (programs stored before runners had names: nsjail)."""


class ProgramStore:
    """The program directories under `programs_dir`."""

    def __init__(self, programs_dir: str) -> None:
        self.programs_dir = programs_dir
        self._lock_fd: int | None = None
        self._building: set[str] = set()
        self._sizes: dict[str, int] = {}  # program id -> bytes on disk
        self._touched: dict[str, int] = {}  # program id -> the second its last use was written
        self._artifacts: dict[str, list[Artifact]] = {}  # program id -> its listed build output
        self.key = b""
        """The store's secret key (set by `prepare`)."""

    def prepare(self) -> None:
        """Create and lock the directory (StoreError if another daemon holds it), and read or
        make its key."""
        self._lock_fd = prepare_directory(self.programs_dir)
        self.key = _read_or_make_key(os.path.join(self.programs_dir, KEY))

    def cache_dir(self, name: str) -> str:
        """A directory for what the daemon derives from programs and keeps across restarts
        (`.cache/<name>`, for the daemon only: no job reaches it); the pruner leaves it alone,
        its owner bounds its size."""
        path = os.path.join(self.programs_dir, CACHES, name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        return path

    def close(self) -> None:
        """Release the directory."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def path(self, program_id: uuid.UUID) -> str:
        """The directory of a program."""
        return os.path.join(self.programs_dir, str(program_id))

    def files_path(self, program_id: uuid.UUID) -> str:
        """The directory mounted at `/program`."""
        return os.path.join(self.path(program_id), FILES)

    def is_built(self, program_id: uuid.UUID) -> bool:
        """Whether a complete build of the program exists."""
        return safefs.exists(self.path(program_id), OK)

    def save(self, program_id: uuid.UUID, program: StoredProgram, *,
             sources: list[tuple[str, bytes]] | None = None,
             output: tuple[str, OutputCaps] | None = None,
             compile_result: RunResult | None = None) -> None:
        """Store a complete program: its `sources`, or the compile `output` directory copied in
        within its caps (raises OutputRejected). Replaces an unfinished directory of the same id.
        Slow for big outputs: call it from a thread, holding the program's write lock.
        """
        name = f"{BUILDING}{uuid.uuid4().hex}"
        self._building.add(name)
        building = os.path.join(self.programs_dir, name)
        try:
            os.mkdir(building, 0o711)
            files = os.path.join(building, FILES)
            os.mkdir(files, 0o755)
            if sources is not None:
                safefs.write_files(files, sources)
            if output is not None:
                copy_output(output[0], files, output[1])
            safefs.replace_file(building, PROGRAM, msgspec.json.encode(program))
            if compile_result is not None:
                safefs.replace_file(building, COMPILE_RESULT, msgspec.json.encode(compile_result))
            safefs.replace_file(building, LAST_RUN, str(int(time.time())).encode())
            safefs.replace_file(building, OK, b"")
            size = safefs.disk_usage(building)
            stale = self.discard(str(program_id))
            if stale is not None:
                safefs.remove_tree(stale)
            os.rename(building, self.path(program_id))
            self._sizes[str(program_id)] = size
        except BaseException:
            safefs.remove_tree(building)
            raise
        finally:
            self._building.discard(name)

    def compile_result(self, program_id: uuid.UUID) -> RunResult | None:
        """The stored compile result, if the environment compiles."""
        path = self.path(program_id)
        if not safefs.exists(path, COMPILE_RESULT):
            return None
        return msgspec.json.decode(safefs.read_file(path, COMPILE_RESULT), type=RunResult)

    def load(self, program_id: uuid.UUID) -> StoredProgram | None:
        """How to run a program, or None if it does not exist."""
        try:
            raw = safefs.read_file(self.path(program_id), PROGRAM)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return msgspec.json.decode(raw, type=StoredProgram)

    def touch(self, program_id: uuid.UUID) -> None:
        """Record a use of the program, which postpones its expiry.

        The record is in whole seconds, so it is written at most once a second per program: a
        disk write and rename (a third of a millisecond) saved on most runs of a busy program.
        """
        name, now = str(program_id), int(time.time())
        if self._touched.get(name) == now:
            return
        if len(self._touched) >= TOUCHES_REMEMBERED:  # older seconds are of no use
            self._touched.clear()
        safefs.replace_file(self.path(program_id), LAST_RUN, str(now).encode())
        self._touched[name] = now

    def artifacts(self, program_id: uuid.UUID) -> list[Artifact]:
        """The files of a built program's output (blocking: the first call hashes them all).

        A program's files never change while it exists, so the listing is kept until the program
        is deleted (a rebuild under the same id need not be byte-identical)."""
        name = str(program_id)
        listed = self._artifacts.get(name)
        if listed is None:
            listed = list_artifacts(self.files_path(program_id))
            if len(self._artifacts) >= ARTIFACT_LISTINGS_KEPT:
                self._artifacts.pop(next(iter(self._artifacts)))
            self._artifacts[name] = listed
        return listed

    def last_run(self, name: str) -> int | None:
        """When the program in directory `name` was last used, or None if unknown."""
        try:
            return int(safefs.read_file(os.path.join(self.programs_dir, name), LAST_RUN))
        except (OSError, ValueError):
            return None

    def measure(self) -> None:
        """Learn the sizes of programs this process did not save (an earlier run's); slow for
        big stores: call it from a thread."""
        for name in self.entries():
            if name not in self._sizes and not name.startswith((TRASH, BUILDING)):
                try:
                    self._sizes.setdefault(name, safefs.disk_usage(os.path.join(self.programs_dir, name)))
                except OSError:
                    pass  # gone meanwhile, or not a directory: the pruner deals with it

    def total_size(self) -> int:
        """Bytes on disk of the programs whose sizes are known."""
        return sum(self._sizes.values())

    def by_last_use(self) -> list[str]:
        """The programs of known size, least recently used first."""
        return sorted(self._sizes, key=lambda name: self.last_run(name) or 0)

    def discard(self, name: str) -> str | None:
        """Take the entry `name` out of the store at once (a rename); returns the path to delete
        (with `safefs.remove_tree`, from a thread), or None if there was no such entry."""
        self._sizes.pop(name, None)
        self._touched.pop(name, None)
        self._artifacts.pop(name, None)
        if name.startswith(TRASH):
            return os.path.join(self.programs_dir, name)
        trash = os.path.join(self.programs_dir, f"{TRASH}{uuid.uuid4().hex}")
        try:
            os.rename(os.path.join(self.programs_dir, name), trash)
        except FileNotFoundError:
            return None
        return trash

    def entries(self) -> list[str]:
        """Names of everything in the programs directory but the lock and builds in progress."""
        return [name for name in os.listdir(self.programs_dir)
                if name not in (LOCK, KEY, CACHES) and name not in self._building]
