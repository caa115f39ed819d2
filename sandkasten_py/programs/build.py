"""Building a program: look it up in the cache, or compile it (or store its sources)."""

from __future__ import annotations

import uuid

import msgspec

from sandkasten_py.environments import Environment
from sandkasten_py.programs.checks import resolve_limits
from sandkasten_py.programs.errors import CompileError, CompileLimitsExceeded, InvalidFileNames
from sandkasten_py.programs.ids import program_id
from sandkasten_py.programs.jobs import Steps
from sandkasten_py.programs.locks import KeyedRWLock, Lease, Mode
from sandkasten_py.programs.store import StoredProgram
from sandkasten_py.schemas import BuildRequest, File, Limits, RunResult


class Built(msgspec.Struct, frozen=True, kw_only=True):
    """A built program, and the read lease that keeps it from being pruned while in use."""

    program_id: uuid.UUID
    cached: bool
    compile_result: RunResult | None
    lease: Lease


async def build_program(
    environment: Environment,
    request: BuildRequest,
    *,
    steps: Steps,
    locks: KeyedRWLock,
    max_limits: Limits,
) -> Built:
    """Return the built program for `request`, building it if needed. The caller releases the lease.

    Concurrent identical requests build once: the first takes the program's write lock, the
    others wait and then read its result. A failed build leaves nothing behind, so compile
    errors are never cached. Compile limits are checked only when a build is actually needed.
    """
    store = steps.store
    pid = program_id(environment, request)
    lease = await locks.write_unless(pid, lambda: store.is_built(pid))
    try:
        if lease.mode is Mode.READ:
            return Built(program_id=pid, cached=True, compile_result=store.compile_result(pid), lease=lease)
        try:
            compile_result = await _build(pid, environment, request, steps, max_limits)
        except BaseException:
            store.remove(str(pid))
            raise
        lease.downgrade()
        return Built(program_id=pid, cached=False, compile_result=compile_result, lease=lease)
    except BaseException:
        lease.release()
        raise


async def _build(
    pid: uuid.UUID,
    environment: Environment,
    request: BuildRequest,
    steps: Steps,
    max_limits: Limits,
) -> RunResult | None:
    limits = resolve_limits(request.compile_limits, max_limits)
    if isinstance(limits, list):
        raise CompileLimitsExceeded(limits)
    manifest = environment.manifest
    main_file = File(name=request.main_file.name or manifest.default_main_file_name,
                     content=request.main_file.content)
    files = request.files or []
    if any(f.name == main_file.name for f in files):
        raise InvalidFileNames()
    compiles = manifest.compile_script is not None
    store = steps.store
    store.create(pid, StoredProgram(
        environment=environment.id,
        run_script=manifest.run_script,
        main_file=main_file.name,
        mounts=environment.mounts,
        symlinks=tuple(manifest.symlinks),
    ), writable_by_job=compiles)
    if manifest.compile_script is None:
        store.add_sources(pid, [(f.name, f.content.encode()) for f in (main_file, *files)])
        store.finish(pid, None)
        return None
    result = await steps.run(
        environment=environment.id,
        argv=(manifest.compile_script, main_file.name, *(f.name for f in files)),
        box_files=[main_file, *files],
        program_dir=store.files_path(pid),
        compiling=True,
        mounts=environment.mounts,
        symlinks=tuple(manifest.symlinks),
        env_vars=request.env_vars or [],
        stdin=None,
        limits=limits,
    )
    if result.status != 0:
        raise CompileError(result)
    store.finish(pid, result)
    return result
