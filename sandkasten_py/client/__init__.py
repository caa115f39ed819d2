"""A typed, blocking client for the Sandkasten REST API, built on `requests`.

Usage::

    from sandkasten_py.client import SandkastenClient
    from sandkasten_py.schemas import BuildRequest, BuildRunRequest, MainFile

    with SandkastenClient("http://127.0.0.1:8000") as client:
        result = client.build_and_run(BuildRunRequest(
            build=BuildRequest(
                environment="python",
                main_file=MainFile(content="print(6 * 7, end='')"),
            ),
        ))
        assert result.run.stdout == "42"
        # The same request, built for you:
        assert client.run_code("python", "print(6 * 7, end='')").run.stdout == "42"

Request and response bodies are the msgspec Structs of `sandkasten_py.schemas`. Errors are
exceptions: `SandkastenError` and below, drawn in `sandkasten_py.client._errors`. Catch one
wire error (`except CompileError as e: e.result`) or an endpoint's whole family
(`except BuildError`).

Paths are resolved against the base URL like relative links, as in the original client. The
original needs a trailing slash on a base URL with a path prefix (`http://proxy/sandkasten/`);
this client adds it, so `http://proxy/sandkasten` works too.
"""

from __future__ import annotations

from sandkasten_py.client._client import DEFAULT_TIMEOUT, SandkastenClient, Timeout, parse_response
from sandkasten_py.client._session import Exit, Output, Session, SessionClosed, Stderr, Stdout
from sandkasten_py.client._errors import (
    BuildError, BuildRunError, CompileError, CompileLimitsExceeded, EnvironmentNotFound,
    ErrorResponse, GeneralError, GetBaseResourceUsageError, InternalServerError, InvalidEnvVars,
    InvalidFileNames, InvalidResponse, LimitsExceeded, MethodNotAllowed, NotFound, ProgramNotFound,
    RunError, RunLimitsExceeded, SandkastenError, TransportError, UnexpectedError,
    UnprocessableContent, UnsupportedMediaType, error_from_response,
    ArtifactNotFound, ArtifactsError, Busy, InvalidCompileArgs,
)

__all__ = [
    # the client, and its interactive sessions
    "SandkastenClient", "DEFAULT_TIMEOUT", "Timeout", "Session", "SessionClosed", "Output", "Stdout", "Stderr",
    "Exit",
    # for other HTTP stacks: turn a status and a body into a result or an exception
    "parse_response", "error_from_response",
    # the error tree
    "SandkastenError", "TransportError", "InvalidResponse", "ErrorResponse", "GeneralError",
    "UnprocessableContent", "InternalServerError", "NotFound", "MethodNotAllowed",
    "UnsupportedMediaType", "UnexpectedError", "LimitsExceeded",
    "GetBaseResourceUsageError", "BuildRunError", "BuildError", "RunError", "ArtifactsError",
    # one class per wire error name
    "EnvironmentNotFound", "CompileError", "InvalidFileNames", "InvalidEnvVars",
    "CompileLimitsExceeded", "RunLimitsExceeded", "ProgramNotFound", "InvalidCompileArgs", "Busy",
    "ArtifactNotFound",
]
