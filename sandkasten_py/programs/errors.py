"""What can go wrong with a program, as seen by a client. The API maps each to a response.

    ProgramError
     ├── InvalidFileNames      duplicate names, names made only of dots, main file = a file
     ├── InvalidEnvVars        a variable named "_"
     ├── InvalidCompileArgs    compiler arguments the environment's policy does not allow
     ├── EnvironmentNotFound
     ├── ProgramNotFound
     ├── ArtifactNotFound      the program has no build file of that name
     ├── LimitsExceeded        requested limits above the configured maximums
     │    ├── CompileLimitsExceeded
     │    └── RunLimitsExceeded
     ├── Busy                  no room for the job in time (the memory budget)
     ├── NotInteractive        a session of a program whose runner has no interactive jobs
     ├── InvalidPipeline       a pipe to a process that does not exist, a stdin fed twice ...
     └── CompileError          the compile step exited non-zero, or its output broke a storage
                               cap (carries its result, and a message saying which cap)

Anything else (sandbox failures, I/O errors) is an internal error.
"""

from __future__ import annotations

import msgspec

from sandkasten_py.schemas import LimitExceeded, RunResult


class ProgramError(Exception):
    """A request that cannot be served as asked; `message` says what was wrong, for people (the
    wire format's `error` and `details` stay Sandkasten's; the message comes in addition)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message: str | None = message


class InvalidFileNames(ProgramError):
    """File names are not unique, a name consists only of dots, or a file is named like the main file."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"file name `{name}`: {why}")
        self.name = name


class InvalidEnvVars(ProgramError):
    """An environment variable name is not allowed."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable `{name}` cannot be set: the shell sets it itself")
        self.name = name


class NotInteractive(ProgramError):
    """An interactive session was asked of a program whose runner cannot stream (wasmtime)."""

    def __init__(self, environment: str, runner: str) -> None:
        super().__init__(f"programs of environment `{environment}` (runner {runner}) cannot run "
                         "interactively; use POST /programs/{program_id}/run")
        self.environment = environment


class InvalidPipeline(ProgramError):
    """The pipes of a pipeline do not fit its processes (the message names the pipe)."""


class EnvironmentNotFound(ProgramError):
    """No environment has the requested id."""

    def __init__(self, environment: str, known: list[str]) -> None:
        super().__init__(f"there is no environment `{environment}`; the environments are: "
                         f"{', '.join(sorted(known)) or 'none'}")
        self.environment = environment


class ProgramNotFound(ProgramError):
    """No program has the requested id (never built, or expired)."""

    def __init__(self, program_id: str) -> None:
        super().__init__(f"there is no program `{program_id}`: it was never built here, or it "
                         "was deleted (`ttl` seconds after its last build or run, or earlier to "
                         "keep all programs within their disk budget); build it again")
        self.program_id = program_id


class ArtifactNotFound(ProgramError):
    """The program exists, but its build output has no file of that name."""

    def __init__(self, program_id: str, name: str, names: list[str]) -> None:
        listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        super().__init__(f"program `{program_id}` has no artifact {name!r}; it has: {listed or 'none'} "
                         f"(GET /programs/{program_id}/artifacts lists them)")
        self.program_id = program_id
        self.name = name


class LimitsExceeded(ProgramError):
    """Some requested limits are above the configured maximums."""

    def __init__(self, exceeded: list[LimitExceeded], requested: dict[str, int | bool] | None = None) -> None:
        requested = requested or {}
        parts = []
        for item in exceeded:
            if isinstance(requested.get(item.name), bool):  # network: true > false
                parts.append(f"`{item.name}` is not allowed (the maximum is false)")
            else:
                asked = f"{requested[item.name]} requested, " if item.name in requested else ""
                parts.append(f"`{item.name}`: {asked}at most {item.max_value}")
        super().__init__("; ".join(parts))
        self.exceeded = exceeded


class CompileLimitsExceeded(LimitsExceeded):
    """Requested compile limits are too high."""


class RunLimitsExceeded(LimitsExceeded):
    """Requested run limits are too high."""


class CompileError(ProgramError):
    """The compile step failed; `result` says how, and `message` what the daemon found wrong
    (also appended to the result's stderr, where clients of the original look)."""

    def __init__(self, result: RunResult, message: str | None = None) -> None:
        super().__init__(message or f"the compile step exited with status {result.status}")
        if message is not None:
            separator = "" if not result.stderr or result.stderr.endswith("\n") else "\n"
            result = msgspec.structs.replace(result, stderr=f"{result.stderr}{separator}sandkasten: {message}\n")
        self.result = result
        # Only a refusal of the daemon's own is a message; the compiler's output says the rest.
        self.message = message


class InvalidCompileArgs(ProgramError):
    """Compiler arguments the environment does not allow; `args` are the offending ones."""

    def __init__(self, args: list[str], reasons: list[str]) -> None:
        super().__init__("compile_args refused: " + "; ".join(reasons))
        self.args_refused = args


class Busy(ProgramError):
    """The daemon cannot take the job now (`max_queued_jobs` requests wait already, or no room
    in the memory budget in time); try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
