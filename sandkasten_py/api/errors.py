"""The error envelope, exactly as Sandkasten's clients expect it.

    {"error": "<name>"}                                  an endpoint error without details
    {"error": "<name>", "details": <payload>}            with details
    {"error": "compile_error", "details": ..., "message": "..."}   what the daemon found wrong
                                                         with a build (a storage cap; ours)
    {"error": "unprocessable_content", "reason": "..."}  422: bad JSON, failed validation, bad path
    {"error": "internal_server_error"}                   500: anything unexpected (logged, not shown)
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from sandkasten_py.programs import (
    CompileError, CompileLimitsExceeded, EnvironmentNotFound, InvalidEnvVars, InvalidFileNames,
    LimitsExceeded, ProgramError, ProgramNotFound, RunLimitsExceeded,
)

# error class -> (HTTP status, wire name, description in the OpenAPI document)
ERRORS: dict[type[ProgramError], tuple[int, str, str]] = {
    EnvironmentNotFound: (404, "environment_not_found", "Environment does not exist."),
    ProgramNotFound: (404, "program_not_found", "Program does not exist."),
    CompileError: (400, "compile_error", "Code could not be compiled."),
    InvalidFileNames: (400, "invalid_file_names", "File names are not unique."),
    InvalidEnvVars: (400, "invalid_env_vars", "Environment variable names are not valid."),
    CompileLimitsExceeded: (400, "compile_limits_exceeded", "The specified compile limits are too high."),
    RunLimitsExceeded: (400, "run_limits_exceeded", "The specified run limits are too high."),
}


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
    """A JSON response encoded with msgspec."""
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def program_error_response(error: ProgramError) -> Response:
    """The response for an endpoint error."""
    status, name, _ = ERRORS[type(error)]
    if isinstance(error, CompileError):
        message = msgspec.UNSET if error.message is None else error.message
        return json_response(ErrorBody(error=name, details=error.result, message=message), status)
    if isinstance(error, LimitsExceeded):
        return json_response(ErrorBody(error=name, details=error.exceeded), status)
    return json_response(ErrorBody(error=name), status)


def unprocessable_response(error: UnprocessableContent) -> Response:
    """422 with the reason."""
    return json_response(ErrorBody(error="unprocessable_content", reason=error.reason), 422)


def internal_error_response() -> Response:
    """500 without details; the traceback goes to the log."""
    return json_response(ErrorBody(error="internal_server_error"), 500)
