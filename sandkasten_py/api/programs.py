"""Tag Programs: POST /run, POST /programs and POST /programs/{program_id}/run."""

from __future__ import annotations

from starlette.requests import Request

from sandkasten_py.api.operations import Operation, path_uuid
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import (
    Busy, CompileError, CompileLimitsExceeded, EnvironmentNotFound, InvalidCompileArgs, InvalidEnvVars,
    InvalidFileNames, ProgramNotFound, RunLimitsExceeded,
)
from sandkasten_py.schemas import (
    BuildRequest, BuildResult, BuildRunRequest, BuildRunResult, RunRequest, RunResult,
)


async def build_and_run(request: Request, body: BuildRunRequest) -> BuildRunResult:
    """Build, then run."""
    state = app_state(request)
    state.metrics.inc("build_run_requests", body.build.environment)
    result = await state.programs.build_and_run(body)
    if result.cached:
        state.metrics.inc("build_run_cache_hits", body.build.environment)
    return result


async def build(request: Request, body: BuildRequest) -> BuildResult:
    """Build (or find in the cache)."""
    state = app_state(request)
    state.metrics.inc("build_requests", body.environment)
    result = await state.programs.build(body)
    if result.cached:
        state.metrics.inc("build_cache_hits", body.environment)
    return result


async def run(request: Request, body: RunRequest) -> RunResult:
    """Run a program built before."""
    state = app_state(request)
    state.metrics.inc("run_requests")
    program_id = path_uuid(request, "program_id")
    return await state.programs.run(program_id, body)


_EXAMPLE_BUILD = {"environment": "python", "main_file": {"content": "print(6 * 7)"}}

_EXAMPLE_PROGRAM_ID = "8f1d2c3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f"
_EXAMPLE_RUN_RESULT = {
    "status": 0,
    "stdout": "42\n",
    "stderr": "",
    "resource_usage": {"time": 38, "memory": 3976, "cpu_time": 21},
    "limits": {"cpus": 1, "time": 5, "memory": 256, "tmpfs": 256, "filesize": 16,
            "file_descriptors": 256, "processes": 64, "stdout_max_size": 65536,
            "stderr_max_size": 65536, "network": False},
    "exceeded": [],
}

OPERATIONS = [
    Operation(
        method="POST", path="/run", operation_id="build_and_run", tag="Programs",
        summary="Build and immediately run a program.",
        description="Builds the program like `POST /programs` (or takes it from the cache), then "
                    "runs it like `POST /programs/{program_id}/run`. The response is 200 whatever "
                    "the program's exit status.",
        handler=build_and_run, request=BuildRunRequest, response=BuildRunResult,
        response_description="Code has been executed successfully.",
        errors=(EnvironmentNotFound, CompileError, InvalidFileNames, InvalidEnvVars,
                InvalidCompileArgs, CompileLimitsExceeded, RunLimitsExceeded, Busy),
        shielded=True,
        request_example={"build": _EXAMPLE_BUILD, "run": {"stdin": "", "args": []}},
        response_example={"program_id": _EXAMPLE_PROGRAM_ID, "ttl": 600, "cached": False,
                          "build": None, "run": _EXAMPLE_RUN_RESULT},
    ),
    Operation(
        method="POST", path="/programs", operation_id="build", tag="Programs",
        summary="Upload and compile a program.",
        description="Programs are cached by a hash of environment, files, build environment "
                    "variables and `compile_args`; a cached program is returned with `cached: true` (compile limits "
                    "are not checked again). Compile errors are not cached. A program is deleted "
                    "`ttl` seconds after its last build or run.",
        handler=build, request=BuildRequest, response=BuildResult, status=201,
        response_description="Program has been built successfully.",
        errors=(EnvironmentNotFound, CompileError, InvalidFileNames, InvalidEnvVars,
                InvalidCompileArgs, CompileLimitsExceeded, Busy),
        shielded=True, request_example=_EXAMPLE_BUILD,
        response_example={"program_id": _EXAMPLE_PROGRAM_ID, "ttl": 600, "cached": False,
                          "compile_result": None},
    ),
    Operation(
        method="POST", path="/programs/{program_id}/run", operation_id="run", tag="Programs",
        summary="Run a program that has previously been built.",
        description="Run limits are checked before the program is looked up. A request without "
                    "any body (no `Content-Type`) runs with the defaults, as `{}` does.",
        handler=run, request=RunRequest, response=RunResult, body_optional=True,
        response_description="Code has been executed successfully.",
        errors=(InvalidFileNames, InvalidEnvVars, ProgramNotFound, RunLimitsExceeded, Busy),
        path_parameters={"program_id": "The `program_id` returned by a build."},
        uuid_parameters=("program_id",),
        shielded=True, request_example={"stdin": "42", "args": ["--verbose"]},
        response_example=_EXAMPLE_RUN_RESULT,
    ),
]
