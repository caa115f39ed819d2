"""The errors of the Sandkasten client: one class per wire error name, grouped by endpoint.

Every failure of a client call raises a `SandkastenError`::

    SandkastenError
    ├── TransportError            no usable answer: connection failed, timed out, ...
    │   └── InvalidResponse       an answer the API does not define (a non-JSON 404 from
    │                             something that is not a sandkasten server, a body that does
    │                             not decode); `.content`
    └── ErrorResponse             a JSON error envelope; `.status_code`, `.body`, `.error`,
        │                         `.message` (what was wrong, from sandkasten-py; else None)
        ├── GeneralError          possible on every endpoint (the original's `GeneralError`)
        │   ├── UnprocessableContent    422, `.reason`
        │   ├── InternalServerError     500
        │   ├── NotFound                404 `not_found`: no such path (a wrong base URL)
        │   ├── MethodNotAllowed        405
        │   └── UnsupportedMediaType    415
        ├── UnexpectedError       a well-formed envelope the endpoint does not declare
        ├── LimitsExceeded        `.exceeded: list[LimitExceeded]`
        └── one family per endpoint (the original's error enums, and ours):
            GetBaseResourceUsageError, BuildRunError, BuildError, RunError, ArtifactsError

The members of the families are one class per wire error name, which inherits from every family
whose endpoint can return it; so both `except CompileError as e: e.result` and
`except BuildError` work::

    wire name                 class                  families                          payload
    environment_not_found     EnvironmentNotFound    GetBaseResourceUsage BuildRun Build
    compile_error             CompileError           BuildRun Build                    .result
    invalid_file_names        InvalidFileNames       BuildRun Build Run
    invalid_env_vars          InvalidEnvVars         BuildRun Build Run
    compile_limits_exceeded   CompileLimitsExceeded  BuildRun Build                    .exceeded
    run_limits_exceeded       RunLimitsExceeded      BuildRun Run                      .exceeded
    program_not_found         ProgramNotFound        Run Artifacts
    invalid_compile_args      InvalidCompileArgs     BuildRun Build                    .refused
    busy                      Busy                   BuildRun Build Run
    artifact_not_found        ArtifactNotFound       Artifacts

A family says which endpoints *can* raise an error, not which one did: an `EnvironmentNotFound`
from `get_base_resource_usage` is also an instance of `BuildError`. A client method raises only
members of its own family (plus `GeneralError`, `UnexpectedError` and `TransportError`), so
`except BuildError` around a `build()` call is exact. An error name outside the method's family
becomes `UnexpectedError` carrying the raw body, never a `KeyError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from sandkasten_py.schemas import LimitExceeded, RunResult

__all__ = [
    "SandkastenError", "TransportError", "InvalidResponse", "ErrorResponse", "GeneralError",
    "UnprocessableContent", "InternalServerError", "NotFound", "MethodNotAllowed",
    "UnsupportedMediaType", "UnexpectedError", "LimitsExceeded",
    "GetBaseResourceUsageError", "BuildRunError", "BuildError", "RunError",
    "EnvironmentNotFound", "CompileError", "InvalidFileNames", "InvalidEnvVars",
    "CompileLimitsExceeded", "RunLimitsExceeded", "ProgramNotFound", "InvalidCompileArgs", "Busy",
    "ArtifactsError", "ArtifactNotFound", "error_from_response",
]


class SandkastenError(Exception):
    """Base class of every error this client raises."""


class TransportError(SandkastenError):
    """No usable answer from the server; `status_code` is set when a response arrived."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvalidResponse(TransportError):
    """A response the API does not define, such as a non-JSON error body; `content` holds it."""

    def __init__(self, message: str, *, status_code: int, content: bytes) -> None:
        super().__init__(message, status_code=status_code)
        self.content = content


class _Envelope(msgspec.Struct):
    # `details` stays raw until the error class knows its type.
    error: str
    details: msgspec.Raw = msgspec.Raw(b"null")
    reason: str | None = None


class ErrorResponse(SandkastenError):
    """The server answered with `{"error": ..., "details"?: ..., "reason"?: ...}`."""

    wire_name: ClassVar[str] = ""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body
        self.error = str(body.get("error", ""))
        message = body.get("message")
        self.message: str | None = message if isinstance(message, str) else None
        text = f"{self.error} (HTTP {status_code}){self._detail()}"
        super().__init__(f"{text}: {self.message}" if self.message else text)

    def _detail(self) -> str:
        return ""

    @classmethod
    def _from_envelope(
        cls, status_code: int, body: dict[str, Any], envelope: _Envelope
    ) -> ErrorResponse:
        # Subclasses with a payload override this to decode it.
        return cls(status_code, body)


class GeneralError(ErrorResponse):
    """An error every endpoint can return."""


class UnprocessableContent(GeneralError):
    """422: the request could not be parsed or validated; `reason` says why."""

    wire_name = "unprocessable_content"

    def __init__(self, status_code: int, body: dict[str, Any], reason: str) -> None:
        self.reason = reason
        super().__init__(status_code, body)

    def _detail(self) -> str:
        return f": {self.reason}"

    @classmethod
    def _from_envelope(
        cls, status_code: int, body: dict[str, Any], envelope: _Envelope
    ) -> ErrorResponse:
        return cls(status_code, body, envelope.reason or "")


class InternalServerError(GeneralError):
    """500: the server failed; the cause is only in its log."""

    wire_name = "internal_server_error"


class NotFound(GeneralError):
    """404 `not_found`: no such path (the base URL is probably wrong)."""

    wire_name = "not_found"


class MethodNotAllowed(GeneralError):
    """405: the path exists, not with this method."""

    wire_name = "method_not_allowed"


class UnsupportedMediaType(GeneralError):
    """415: the body was not sent as JSON."""

    wire_name = "unsupported_media_type"


class UnexpectedError(ErrorResponse):
    """A well-formed error envelope whose name the endpoint does not declare."""


class GetBaseResourceUsageError(ErrorResponse):
    """Errors of `get_base_resource_usage`."""


class BuildRunError(ErrorResponse):
    """Errors of `build_and_run`."""


class BuildError(ErrorResponse):
    """Errors of `build`."""


class RunError(ErrorResponse):
    """Errors of `run`."""


class ArtifactsError(ErrorResponse):
    """Errors of `list_artifacts` and `download_artifact`."""


class LimitsExceeded(ErrorResponse):
    """Requested limits above the configured maximums; `exceeded` lists them all."""

    def __init__(
        self, status_code: int, body: dict[str, Any], exceeded: list[LimitExceeded]
    ) -> None:
        self.exceeded = exceeded
        super().__init__(status_code, body)

    def _detail(self) -> str:
        return ": " + ", ".join(f"{item.name} (max {item.max_value})" for item in self.exceeded)

    @classmethod
    def _from_envelope(
        cls, status_code: int, body: dict[str, Any], envelope: _Envelope
    ) -> ErrorResponse:
        exceeded = msgspec.json.decode(envelope.details, type=list[LimitExceeded])
        return cls(status_code, body, exceeded)


class EnvironmentNotFound(GetBaseResourceUsageError, BuildRunError, BuildError):
    """404: the environment does not exist."""

    wire_name = "environment_not_found"


class CompileError(BuildRunError, BuildError):
    """400: the compile step exited with a non-zero status; `result` is its RunResult."""

    wire_name = "compile_error"

    def __init__(self, status_code: int, body: dict[str, Any], result: RunResult) -> None:
        self.result = result
        super().__init__(status_code, body)

    def _detail(self) -> str:
        stderr = self.result.stderr.strip()
        # Enough of the compiler's message to recognise it in a traceback.
        tail = f"\n{stderr[-500:]}" if stderr else ""
        return f": exit status {self.result.status}{tail}"

    @classmethod
    def _from_envelope(
        cls, status_code: int, body: dict[str, Any], envelope: _Envelope
    ) -> ErrorResponse:
        return cls(status_code, body, msgspec.json.decode(envelope.details, type=RunResult))


class InvalidFileNames(BuildRunError, BuildError, RunError):
    """400: file names are not unique or consist only of dots."""

    wire_name = "invalid_file_names"


class InvalidEnvVars(BuildRunError, BuildError, RunError):
    """400: an environment variable name is not allowed."""

    wire_name = "invalid_env_vars"


class CompileLimitsExceeded(LimitsExceeded, BuildRunError, BuildError):
    """400: the requested compile limits are too high."""

    wire_name = "compile_limits_exceeded"


class RunLimitsExceeded(LimitsExceeded, BuildRunError, RunError):
    """400: the requested run limits are too high."""

    wire_name = "run_limits_exceeded"


class ProgramNotFound(RunError, ArtifactsError):
    """404: no program with this id (never built, or pruned after its TTL)."""

    wire_name = "program_not_found"


class InvalidCompileArgs(BuildRunError, BuildError):
    """400: `compile_args` the environment does not allow; `refused` lists them, `message` why."""

    wire_name = "invalid_compile_args"

    def __init__(self, status_code: int, body: dict[str, Any], refused: list[str]) -> None:
        self.refused = refused
        super().__init__(status_code, body)

    @classmethod
    def _from_envelope(
        cls, status_code: int, body: dict[str, Any], envelope: _Envelope
    ) -> ErrorResponse:
        return cls(status_code, body, msgspec.json.decode(envelope.details, type=list[str]))


class Busy(BuildRunError, BuildError, RunError):
    """503: no room for the job in time (the server's memory budget); try again later (the
    response's Retry-After says when)."""

    wire_name = "busy"


class ArtifactNotFound(ArtifactsError):
    """404: the program has no build file of that name (`message` lists the ones it has)."""

    wire_name = "artifact_not_found"


_BY_WIRE_NAME: dict[str, type[ErrorResponse]] = {
    cls.wire_name: cls
    for cls in (
        UnprocessableContent, InternalServerError, NotFound, MethodNotAllowed, UnsupportedMediaType,
        EnvironmentNotFound, CompileError,
        InvalidFileNames, InvalidEnvVars, CompileLimitsExceeded, RunLimitsExceeded, ProgramNotFound,
        InvalidCompileArgs, Busy, ArtifactNotFound,
    )
}


# ----------------------------------------------------------------------------- parsing


def error_from_response(
    status_code: int, content: bytes, family: type[ErrorResponse] | None = None
) -> SandkastenError:
    """The error an error response describes; `family` is the endpoint's family, if it has one."""
    try:
        envelope = msgspec.json.decode(content, type=_Envelope)
        body = msgspec.json.decode(content, type=dict[str, Any])
    except msgspec.DecodeError as exc:
        return InvalidResponse(f"HTTP {status_code} without an error envelope: {exc}",
                               status_code=status_code, content=content)
    cls = _BY_WIRE_NAME.get(envelope.error, UnexpectedError)
    # A known name is still unexpected where the endpoint does not declare it.
    if not issubclass(cls, GeneralError) and (family is None or not issubclass(cls, family)):
        return UnexpectedError(status_code, body)
    try:
        return cls._from_envelope(status_code, body, envelope)
    except msgspec.DecodeError as exc:
        return InvalidResponse(f"HTTP {status_code} {envelope.error} with invalid details: {exc}",
                               status_code=status_code, content=content)
