"""Building a program: look it up in the cache, or compile it (or store its sources)."""

from __future__ import annotations

import uuid

import msgspec

from sandkasten_py.config import StorageLimits
from sandkasten_py.environments import Environment
from sandkasten_py.offloop import sized, to_the_end
from sandkasten_py.programs.checks import resolve_limits
from sandkasten_py.programs.compile_args import check_compile_args
from sandkasten_py.programs.errors import CompileError, CompileLimitsExceeded, InvalidFileNames
from sandkasten_py.programs.ids import program_id, request_size
from sandkasten_py.programs.jobs import Steps
from sandkasten_py.programs.locks import KeyedRWLock, Lease, Mode
from sandkasten_py.programs.output import OutputCaps, OutputRejected
from sandkasten_py.programs.store import StoredProgram
from sandkasten_py.sandbox import MB, tmpfs
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
    storage: StorageLimits,
) -> Built:
    """Return the built program for `request`, building it if needed. The caller releases the lease.

    Concurrent identical requests build once: the first takes the program's write lock, the
    others wait and then read its result. A failed build leaves nothing behind (the store only
    ever holds complete programs), so compile errors are never cached. Compile limits are
    checked only when a build is actually needed.
    """
    manifest = environment.manifest
    sources = [request.main_file.name or manifest.default_main_file_name, *(f.name for f in request.files or ())]
    check_compile_args(manifest.compile_args, environment.id, request.compile_args or (), sources)
    store = steps.store
    pid = await sized(request_size(request), program_id, environment, request)
    lease = await locks.write_unless(pid, lambda: store.is_built(pid))
    try:
        if lease.mode is Mode.READ:
            return Built(program_id=pid, cached=True, compile_result=store.compile_result(pid), lease=lease)
        compile_result = await _build(pid, environment, request, steps, max_limits, storage)
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
    storage: StorageLimits,
) -> RunResult | None:
    limits = resolve_limits(request.compile_limits, max_limits, CompileLimitsExceeded)
    manifest = environment.manifest
    main_file = File(name=request.main_file.name or manifest.default_main_file_name,
                     content=request.main_file.content, encoding=request.main_file.encoding)
    files = request.files or []
    if any(f.name == main_file.name for f in files):
        raise InvalidFileNames(main_file.name, "it is also the name of the main file")
    program = StoredProgram(
        environment=environment.id,
        run_script=manifest.run_script,
        main_file=main_file.name,
        mounts=environment.mounts,
        symlinks=tuple(manifest.symlinks),
        runner=manifest.runner,
    )
    if manifest.compile_script is None:
        sources = [(f.name, f.data()) for f in (main_file, *files)]
        await to_the_end(steps.store.save, pid, program, sources=sources)
        return None
    async with steps.job([main_file, *files], limits, compiling=True, runner=manifest.runner) as job:
        assert job.program is not None
        result = await steps.run(
            job,
            environment=environment.id,
            runner=manifest.runner,
            argv=(manifest.compile_script, main_file.name, *(f.name for f in files)),
            program_dir=job.program,
            mounts=environment.mounts,
            symlinks=tuple(manifest.symlinks),
            env_vars=request.env_vars or [],
            stdin=None,
            limits=limits,
            compile_args=tuple(request.compile_args or ()),
        )
        if result.status != 0:
            raise CompileError(result, _filled(job.program, storage))
        caps = OutputCaps(max_bytes=storage.program_size * MB, max_entries=storage.program_files,
                          max_depth=storage.program_depth)
        try:
            await to_the_end(steps.store.save, pid, program, output=(job.program, caps),
                             compile_result=result)
        except OutputRejected as e:
            raise CompileError(result, str(e)) from None
    return result


def _filled(program_dir: str, storage: StorageLimits) -> str | None:
    """Why a failed compile step may have failed: it filled `/program` (or None)."""
    out_of_space, out_of_inodes = tmpfs.exhausted(program_dir)
    if out_of_space:
        return (f"the compile step filled /program, which holds {storage.program_size} MB "
                "(storage_limits.program_size)")
    if out_of_inodes:
        return (f"the compile step filled /program, which holds {storage.program_files} files and "
                "directories (storage_limits.program_files)")
    return None
