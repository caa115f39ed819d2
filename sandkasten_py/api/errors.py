"""The error envelope, exactly as Sandkasten's clients expect it, for every response.

    {"error": "<name>"}                                  an endpoint error without details
    {"error": "<name>", "details": <payload>}            with details
    {"error": "unprocessable_content", "reason": "..."}  422: bad JSON, failed validation, bad path
                                                         (and 413: a body over the size limit)
    {"error": "internal_server_error"}                   500: anything unexpected (logged, not shown)

Every error may also carry `message`: what was wrong, for people (which id, which name, what is
allowed). It is ours and additive; `error`, `details` and `reason` stay Sandkasten's. Responses
outside the operations (an unknown path, a method not allowed, a body that is not JSON) use the
same envelope with error names of their own (GENERAL_ERRORS).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandkasten_py.programs import (
    ArtifactNotFound, Busy, CompileError, CompileLimitsExceeded, EnvironmentNotFound, InvalidCompileArgs, InvalidEnvVars,
    InvalidFileNames, InvalidPipeline, LimitsExceeded, NotInteractive, ProgramError, ProgramNotFound, RunLimitsExceeded,
)

PIECE_BYTES = 256 * 1024

# error class -> (HTTP status, wire name, description in the OpenAPI document); looked up along the
# class's MRO, so a subclass of an error is answered as that error.
ERRORS: dict[type[ProgramError], tuple[int, str, str]] = {
    EnvironmentNotFound: (404, "environment_not_found", "Environment does not exist."),
    ProgramNotFound: (404, "program_not_found", "Program does not exist."),
    ArtifactNotFound: (404, "artifact_not_found", "The program has no file of that name."),
    CompileError: (400, "compile_error", "Code could not be compiled."),
    InvalidFileNames: (400, "invalid_file_names", "File names are not unique."),
    InvalidEnvVars: (400, "invalid_env_vars", "Environment variable names are not valid."),
    InvalidCompileArgs: (400, "invalid_compile_args",
                         "Compiler arguments the environment does not allow (`details` lists them)."),
    CompileLimitsExceeded: (400, "compile_limits_exceeded", "The specified compile limits are too high."),
    RunLimitsExceeded: (400, "run_limits_exceeded", "The specified run limits are too high."),
    InvalidPipeline: (400, "invalid_pipeline", "The pipes do not fit the processes (`message` says which)."),
    NotInteractive: (400, "not_interactive", "The program's environment cannot run interactively."),
    Busy: (503, "busy", "The daemon is busy (`max_queued_jobs` requests wait already, or no room in "
                        "`memory_budget` in time); retry after `Retry-After` seconds."),
}


# HTTP status -> (wire name, description): errors any path may answer, not an operation's own.
GENERAL_ERRORS: dict[int, tuple[str, str]] = {
    404: ("not_found", "No such path (the message names the paths there are)."),
    405: ("method_not_allowed", "The path exists, but not with this method (see the Allow header)."),
    413: ("unprocessable_content", "The request body is larger than the configured limit."),
    415: ("unsupported_media_type", "The body is not JSON (`Content-Type: application/json`)."),
    422: ("unprocessable_content", "The body or a path parameter is not valid; `reason` says why."),
    500: ("internal_server_error", "A bug; the daemon's log has the details."),
}


def lookup(error: ProgramError) -> tuple[int, str, str]:
    """The status, wire name and description of a program error (by its nearest listed class)."""
    for cls in type(error).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    raise KeyError(type(error))


class UnprocessableContent(Exception):
    """The request could not be parsed or validated; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """An error response."""

    error: str
    details: Any = msgspec.UNSET
    reason: str | msgspec.UnsetType = msgspec.UNSET
    message: str | msgspec.UnsetType = msgspec.UNSET


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response encoded with msgspec (a big one is sent in pieces)."""
    content = msgspec.json.encode(body)
    kind = PiecedResponse if len(content) > PIECE_BYTES else Response
    return kind(content, status_code=status, media_type="application/json")


class PiecedResponse(Response):
    """A complete body sent in pieces of `PIECE_BYTES`: on loopback the kernel delivers what is
    sent within the sending call, so one send of several MiB would hold the event loop for
    milliseconds; between pieces other requests get their turn."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        view = memoryview(self.body)
        for start in range(0, len(view), PIECE_BYTES):
            end = start + PIECE_BYTES
            await send({"type": "http.response.body", "body": bytes(view[start:end]),
                        "more_body": end < len(view)})


def program_error_response(error: ProgramError) -> Response:
    """The response for an endpoint error."""
    status, name, _ = lookup(error)
    message = msgspec.UNSET if error.message is None else error.message
    if isinstance(error, CompileError):
        return json_response(ErrorBody(error=name, details=error.result, message=message), status)
    if isinstance(error, Busy):
        response = json_response(ErrorBody(error=name, message=message), status)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, InvalidCompileArgs):
        return json_response(ErrorBody(error=name, details=error.args_refused, message=message), status)
    if isinstance(error, LimitsExceeded):
        return json_response(ErrorBody(error=name, details=error.exceeded, message=message), status)
    return json_response(ErrorBody(error=name, message=message), status)


def general_error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The response for an error outside the operations (GENERAL_ERRORS)."""
    name, _ = GENERAL_ERRORS[status]
    response = json_response(ErrorBody(error=name, message=message), status)
    response.headers.update(headers or {})
    return response


def unprocessable_response(error: UnprocessableContent) -> Response:
    """422 with the reason."""
    return json_response(ErrorBody(error="unprocessable_content", reason=error.reason), 422)


def internal_error_response() -> Response:
    """500 without details; the traceback goes to the log."""
    return json_response(ErrorBody(error="internal_server_error",
                                   message="an internal error; the daemon's log has the details"), 500)
