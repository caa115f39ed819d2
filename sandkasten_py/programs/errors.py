"""What can go wrong with a program, as seen by a client. The API maps each to a response.

    ProgramError
     ├── InvalidFileNames      duplicate names, names made only of dots, main file = a file
     ├── InvalidEnvVars        a variable named "_"
     ├── EnvironmentNotFound
     ├── ProgramNotFound
     ├── LimitsExceeded        requested limits above the configured maximums
     │    ├── CompileLimitsExceeded
     │    └── RunLimitsExceeded
     └── CompileError          the compile step exited non-zero, or its output broke a storage
                               cap (carries its result, and a message saying which cap)

Anything else (sandbox failures, I/O errors) is an internal error.
"""

from __future__ import annotations

import msgspec

from sandkasten_py.schemas import LimitExceeded, RunResult


class ProgramError(Exception):
    """A request that cannot be served as asked."""


class InvalidFileNames(ProgramError):
    """File names are not unique, or a name consists only of dots."""


class InvalidEnvVars(ProgramError):
    """An environment variable name is not allowed."""


class EnvironmentNotFound(ProgramError):
    """No environment has the requested id."""


class ProgramNotFound(ProgramError):
    """No program has the requested id (never built, or expired)."""


class LimitsExceeded(ProgramError):
    """Some requested limits are above the configured maximums."""

    def __init__(self, exceeded: list[LimitExceeded]) -> None:
        super().__init__(", ".join(e.name for e in exceeded))
        self.exceeded = exceeded


class CompileLimitsExceeded(LimitsExceeded):
    """Requested compile limits are too high."""


class RunLimitsExceeded(LimitsExceeded):
    """Requested run limits are too high."""


class CompileError(ProgramError):
    """The compile step failed; `result` says how, and `message` what the daemon found wrong
    (also appended to the result's stderr, where clients of the original look)."""

    def __init__(self, result: RunResult, message: str | None = None) -> None:
        super().__init__(message or f"compile step exited with status {result.status}")
        if message is not None:
            separator = "" if not result.stderr or result.stderr.endswith("\n") else "\n"
            result = msgspec.structs.replace(result, stderr=f"{result.stderr}{separator}sandkasten: {message}\n")
        self.result = result
        self.message = message
