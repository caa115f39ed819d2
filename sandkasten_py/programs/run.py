"""Running a built program."""

from __future__ import annotations

import uuid

from sandkasten_py.programs.errors import ProgramNotFound
from sandkasten_py.programs.jobs import Steps
from sandkasten_py.programs.locks import Lease, Mode
from sandkasten_py.sandbox import JobIO
from sandkasten_py.schemas import Limits, RunRequest, RunResult


async def run_program(
    program_id: uuid.UUID,
    lease: Lease,
    request: RunRequest,
    limits: Limits,
    *,
    steps: Steps,
    io: JobIO | None = None,
) -> RunResult:
    """Run a program; `lease` (a read lease on the program) proves it cannot be pruned meanwhile.
    With `io`, interactively (a session): stdin and output go through it."""
    if lease.mode is not Mode.READ or lease.key != program_id:
        raise RuntimeError("run_program needs a read lease on the program")
    program = steps.store.load(program_id)
    if program is None:
        raise ProgramNotFound(str(program_id))
    steps.store.touch(program_id)
    async with steps.job(request.files or [], limits, compiling=False, runner=program.runner) as job:
        return await steps.run(
            job,
            environment=program.environment,
            runner=program.runner,
            argv=(program.run_script, program.main_file, *(request.args or ())),
            program_dir=steps.store.files_path(program_id),
            mounts=program.mounts,
            symlinks=program.symlinks,
            env_vars=request.env_vars or [],
            stdin=request.stdin,
            limits=limits,
            base64_output=bool(request.base64_output),
            io=io,
        )
