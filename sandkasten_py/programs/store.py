"""Where built programs live, and the per-job working directories.

``<programs_dir>/<program id>/``:

| entry            | content                                                               |
|------------------|-----------------------------------------------------------------------|
| `files/`         | the compile output, or the sources (mounted at `/program`)            |
| `program.json`   | how to run it: environment, run script, main file, mounts, symlinks   |
| `compile_result` | the compile step's RunResult as JSON (compiled environments only)     |
| `ok`             | empty marker, written last: the build is complete                     |
| `last_run`       | Unix seconds of the last build or run, for pruning                    |

Only `files/` is ever writable by a job (during its compile step), so the daemon's own files
cannot be replaced by links; still, every access goes through `safefs`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator

import msgspec

from sandkasten_py import safefs
from sandkasten_py.sandbox import Mount, Symlink
from sandkasten_py.schemas import RunResult

NOBODY = 65534  # the job's uid and gid outside its namespace

OK = "ok"
LAST_RUN = "last_run"
PROGRAM = "program.json"
COMPILE_RESULT = "compile_result"
FILES = "files"


class StoreError(Exception):
    """The programs or jobs directory cannot be used."""


def _check_traversable(directory: str) -> None:
    # nsjail bind-mounts job and program directories as the job's outside uid (65534), which
    # must be able to traverse every ancestor, or every job fails with a bare mount error.
    path = os.path.abspath(directory)
    while True:
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXOTH:
            raise StoreError(f"{directory}: jobs (uid {NOBODY}) cannot traverse {path} "
                             f"(mode {stat.filemode(mode)}); run `chmod o+x {path}`")
        if path == "/":
            return
        path = os.path.dirname(path)


class StoredProgram(msgspec.Struct, frozen=True, kw_only=True):
    """What a run step needs to know about a built program."""

    environment: str
    run_script: str
    main_file: str
    mounts: tuple[Mount, ...]
    symlinks: tuple[Symlink, ...]


class ProgramStore:
    """Program directories under `programs_dir`, and job directories under `jobs_dir`."""

    def __init__(self, programs_dir: str, jobs_dir: str) -> None:
        self.programs_dir = programs_dir
        self.jobs_dir = jobs_dir

    def prepare(self) -> None:
        """Create both directories, and empty the jobs directory (left over from a crash)."""
        for directory in (self.programs_dir, self.jobs_dir):
            os.makedirs(directory, mode=0o711, exist_ok=True)
            if not os.path.isdir(directory) or os.path.islink(directory):
                raise StoreError(f"{directory} is not a directory")
            os.chmod(directory, 0o711)
            _check_traversable(directory)
        safefs.clear_directory(self.jobs_dir)

    def path(self, program_id: uuid.UUID) -> str:
        """The directory of a program."""
        return os.path.join(self.programs_dir, str(program_id))

    def files_path(self, program_id: uuid.UUID) -> str:
        """The directory mounted at `/program`."""
        return os.path.join(self.path(program_id), FILES)

    def is_built(self, program_id: uuid.UUID) -> bool:
        """Whether a complete build of the program exists."""
        return safefs.exists(self.path(program_id), OK)

    def exists(self, program_id: uuid.UUID) -> bool:
        """Whether the program's directory exists."""
        return os.path.isdir(self.path(program_id))

    def create(self, program_id: uuid.UUID, program: StoredProgram, *, writable_by_job: bool) -> None:
        """Start a build: a fresh directory (replacing an unfinished one) with `program.json`."""
        path = self.path(program_id)
        safefs.remove_tree(path)
        os.mkdir(path, 0o711)
        os.mkdir(self.files_path(program_id), 0o755)
        if writable_by_job:
            os.chown(self.files_path(program_id), NOBODY, NOBODY)
        safefs.replace_file(path, PROGRAM, msgspec.json.encode(program))

    def add_sources(self, program_id: uuid.UUID, files: list[tuple[str, bytes]]) -> None:
        """Put the sources into `files/` (environments without a compile step)."""
        safefs.write_files(self.files_path(program_id), files)

    def finish(self, program_id: uuid.UUID, compile_result: RunResult | None) -> None:
        """Mark a build complete."""
        path = self.path(program_id)
        if compile_result is not None:
            safefs.replace_file(path, COMPILE_RESULT, msgspec.json.encode(compile_result))
        self.touch(program_id)
        safefs.replace_file(path, OK, b"")

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
        """Record a use of the program, which postpones its expiry."""
        safefs.replace_file(self.path(program_id), LAST_RUN, str(int(time.time())).encode())

    def last_run(self, name: str) -> int | None:
        """When the program in directory `name` was last used, or None if unknown."""
        try:
            return int(safefs.read_file(os.path.join(self.programs_dir, name), LAST_RUN))
        except (OSError, ValueError):
            return None

    def remove(self, name: str) -> None:
        """Delete a program directory (or any other entry) by its name."""
        safefs.remove_tree(os.path.join(self.programs_dir, name))

    def entries(self) -> list[str]:
        """Names of everything in the programs directory."""
        return os.listdir(self.programs_dir)

    @contextlib.asynccontextmanager
    async def job_dir(self, files: list[tuple[str, bytes]]) -> AsyncIterator[str]:
        """A fresh `box` directory holding `files`, removed after the job."""
        job = os.path.join(self.jobs_dir, uuid.uuid4().hex)
        box = os.path.join(job, "box")
        os.mkdir(job, 0o711)
        try:
            os.mkdir(box, 0o755)
            safefs.write_files(box, files)
            yield box
        finally:
            safefs.remove_tree(job)
