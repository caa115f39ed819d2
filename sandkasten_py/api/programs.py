"""Tag Programs: POST /run, POST /programs, POST /programs/{program_id}/run, batches of runs
(POST /programs/{program_id}/batch, POST /batch) and pipelines (POST /pipelines)."""

from __future__ import annotations

from starlette.requests import Request

from sandkasten_py.api.operations import Operation, path_uuid
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import (
    Busy, CompileError, CompileLimitsExceeded, EnvironmentNotFound, InvalidCompileArgs, InvalidEnvVars,
    InvalidFileNames, InvalidPipeline, NotInteractive, ProgramNotFound, RunLimitsExceeded,
)
from sandkasten_py.schemas import (
    BatchRequest, BatchResult, BuildBatchRequest, BuildBatchResult, BuildRequest, BuildResult, BuildRunRequest,
    BuildRunResult, PipelineRequest, PipelineResult, RunRequest, RunResult,
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


async def batch(request: Request, body: BatchRequest) -> BatchResult:
    """Run a program built before, many times."""
    state = app_state(request)
    program_id = path_uuid(request, "program_id")
    return await state.programs.batch(program_id, body)


async def pipeline(request: Request, body: PipelineRequest) -> PipelineResult:
    """Run programs together, piped into each other."""
    return await app_state(request).programs.pipeline(body)


async def build_and_batch(request: Request, body: BuildBatchRequest) -> BuildBatchResult:
    """Build, then run many times."""
    state = app_state(request)
    state.metrics.inc("build_requests", body.build.environment)
    result = await state.programs.build_and_batch(body)
    if result.cached:
        state.metrics.inc("build_cache_hits", body.build.environment)
    return result


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
    Operation(
        method="POST", path="/programs/{program_id}/batch", operation_id="batch", tag="Programs",
        summary="Run a program that has previously been built, many times.",
        description="Each run is a run request with an optional `expected_stdout`; `count` repeats "
                    "each run. Runs go in parallel up to the job slots, each taking a slot of its "
                    "own, first come first served with other requests (a batch keeps at most half "
                    "the slots busy or waiting). The results are in request order, each run's "
                    "repetitions together; a run's checks fail the whole request, naming the run "
                    "(`runs[3]: ...`).",
        handler=batch, request=BatchRequest, response=BatchResult,
        response_description="The runs have been executed.",
        errors=(InvalidFileNames, InvalidEnvVars, ProgramNotFound, RunLimitsExceeded, Busy),
        path_parameters={"program_id": "The `program_id` returned by a build."},
        uuid_parameters=("program_id",),
        shielded=True,
        request_example={"runs": [{"stdin": "1 2", "expected_stdout": "3"},
                                  {"stdin": "40 2", "expected_stdout": "42"}]},
        response_example={"results": [{"run": _EXAMPLE_RUN_RESULT, "passed": False}],
                          "summary": {"runs": 1, "passed": 0, "failed": 1,
                                      "time": {"min": 38, "avg": 38, "max": 38},
                                      "memory": {"min": 3976, "avg": 3976, "max": 3976},
                                      "outputs_agree": True}},
    ),
    Operation(
        method="POST", path="/batch", operation_id="build_and_batch", tag="Programs",
        summary="Build a program and run it many times.",
        description="Builds the program like `POST /programs` (or takes it from the cache), then "
                    "runs the batch like `POST /programs/{program_id}/batch`.",
        handler=build_and_batch, request=BuildBatchRequest, response=BuildBatchResult,
        response_description="The program has been built and the runs executed.",
        errors=(EnvironmentNotFound, CompileError, InvalidFileNames, InvalidEnvVars,
                InvalidCompileArgs, CompileLimitsExceeded, RunLimitsExceeded, Busy),
        shielded=True,
        request_example={"build": _EXAMPLE_BUILD, "batch": {"runs": [{"expected_stdout": "42"}], "count": 3}},
        response_example={"program_id": _EXAMPLE_PROGRAM_ID, "ttl": 600, "cached": False, "build": None,
                          "batch": {"results": [], "summary": {
                              "runs": 0, "passed": 0, "failed": 0, "time": {"min": 0, "avg": 0, "max": 0},
                              "memory": {"min": 0, "avg": 0, "max": 0}, "outputs_agree": True}}},
    ),
    Operation(
        method="POST", path="/pipelines", operation_id="pipeline", tag="Programs",
        summary="Run programs together, each one's output piped into another's stdin.",
        description="Each process is a program built before with a run request, in its own jail "
                    "with its own limits; all start together (each takes a job slot). A pipe feeds "
                    "a process's stdout or stderr to another's stdin as it is written (both "
                    "directions for an interactive judge: interactor and solution); a stdin no "
                    "pipe feeds gets the run's `stdin`. When a writer ends, its reader's stdin "
                    "ends. Results are in process order; a piped stream is empty in its writer's "
                    "result. Errors in the pipes name the pipe (`pipes[1].to: ...`).",
        handler=pipeline, request=PipelineRequest, response=PipelineResult,
        response_description="The processes have run.",
        errors=(InvalidPipeline, InvalidFileNames, InvalidEnvVars, ProgramNotFound, RunLimitsExceeded,
                NotInteractive, Busy),
        shielded=True,
        request_example={"processes": [{"program_id": _EXAMPLE_PROGRAM_ID, "run": {"args": ["42"]}},
                                       {"program_id": _EXAMPLE_PROGRAM_ID}],
                         "pipes": [{"from": [0, "stdout"], "to": [1, "stdin"]},
                                   {"from": [1, "stdout"], "to": [0, "stdin"]}]},
        response_example={"results": [_EXAMPLE_RUN_RESULT, _EXAMPLE_RUN_RESULT]},
    ),
]
