"""Sizes and counts of a request, checked against the configured `request_limits` after decoding.

msgspec checks the shape of a request; how big it may be is configuration (a judge with large
test inputs raises `file_length` and `stdin_length`), so it is checked here, at the API edge,
before anything runs. The messages keep msgspec's form, which clients already see for every
other validation error, and name the configuration key.
"""

from __future__ import annotations

from collections.abc import Sequence

from sandkasten_py.api.errors import UnprocessableContent
from sandkasten_py.schemas import (BatchRequest, BuildBatchRequest, BuildRequest, BuildRunRequest, EnvVar, File,
                                   PipelineRequest, RequestLimits, RunRequest)


def check_request(body: object, limits: RequestLimits) -> None:
    """Raise UnprocessableContent (422) for the first part of `body` over its limit."""
    if isinstance(body, BuildRunRequest):
        _check_build(body.build, limits, "$.build")
        if body.run is not None:
            _check_run(body.run, limits, "$.run")
    elif isinstance(body, BuildRequest):
        _check_build(body, limits, "$")
    elif isinstance(body, RunRequest):
        _check_run(body, limits, "$")
    elif isinstance(body, BuildBatchRequest):
        _check_build(body.build, limits, "$.build")
        _check_batch(body.batch, limits, "$.batch")
    elif isinstance(body, BatchRequest):
        _check_batch(body, limits, "$")
    elif isinstance(body, PipelineRequest):
        _count(body.processes, limits.pipeline_processes, "$.processes", "pipeline_processes")
        for index, process in enumerate(body.processes):
            if process.run is not None:
                _check_run(process.run, limits, f"$.processes[{index}].run")


def _check_batch(batch: BatchRequest, limits: RequestLimits, at: str) -> None:
    if len(batch.runs) * batch.count > limits.batch_runs:
        raise UnprocessableContent(
            f"parse request payload error: {len(batch.runs)} runs, {batch.count} times each, are more "
            f"than {limits.batch_runs} runs - at `{at}.runs` (configuration key `request_limits.batch_runs`)")
    for index, run in enumerate(batch.runs):
        _check_run(run, limits, f"{at}.runs[{index}]")


def _check_build(build: BuildRequest, limits: RequestLimits, at: str) -> None:
    _text(build.main_file.content, limits.file_length, f"{at}.main_file.content", "file_length")
    _files(build.files, limits, f"{at}.files")
    _env_vars(build.env_vars, limits, f"{at}.env_vars")
    _args(build.compile_args or [], limits, f"{at}.compile_args")


def _check_run(run: RunRequest, limits: RequestLimits, at: str) -> None:
    if run.stdin is not None:
        _text(run.stdin, limits.stdin_length, f"{at}.stdin", "stdin_length")
    _args(run.args or [], limits, f"{at}.args")
    _files(run.files, limits, f"{at}.files")
    _env_vars(run.env_vars, limits, f"{at}.env_vars")


def _args(args: Sequence[str], limits: RequestLimits, at: str) -> None:
    _count(args, limits.args, at, "args")
    for index, arg in enumerate(args):
        _text(arg, limits.arg_length, f"{at}[{index}]", "arg_length")


def _files(files: Sequence[File] | None, limits: RequestLimits, at: str) -> None:
    files = files or []
    _count(files, limits.files, at, "files")
    for index, file in enumerate(files):
        _text(file.content, limits.file_length, f"{at}[{index}].content", "file_length")


def _env_vars(variables: Sequence[EnvVar] | None, limits: RequestLimits, at: str) -> None:
    variables = variables or []
    _count(variables, limits.env_vars, at, "env_vars")
    for index, variable in enumerate(variables):
        _text(variable.value, limits.env_var_length, f"{at}[{index}].value", "env_var_length")


def _count(items: Sequence[object], maximum: int, at: str, key: str) -> None:
    if len(items) > maximum:
        raise UnprocessableContent(f"parse request payload error: Expected `array` of length <= "
                                   f"{maximum} - at `{at}` (configuration key `request_limits.{key}`)")


def _text(text: str, maximum: int, at: str, key: str) -> None:
    if len(text) > maximum:
        raise UnprocessableContent(f"parse request payload error: Expected `str` of length <= "
                                   f"{maximum} - at `{at}` (configuration key `request_limits.{key}`)")
