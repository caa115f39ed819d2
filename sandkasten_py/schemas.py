"""The wire format of the Sandkasten REST API, as msgspec Structs.

This module is the single definition of every request and response body: the
server decodes and encodes with it, the OpenAPI document is generated from it
and the Python client parses with it. It imports nothing from the project, so
every layer may use it.

Compatibility with Sandkasten 0.2.2 decides the details:

* request fields that have a default accept both a missing key and ``null``;
  ``None`` always means "use the default" and is resolved below the API;
* unknown request fields are ignored (msgspec's default);
* lengths count characters, and patterns must match the whole string. msgspec
  patterns use ``re.search``, whose ``$`` also matches before a final newline,
  so names are additionally checked with ``fullmatch`` in ``__post_init__``;
* integers are unsigned 64-bit;
* responses keep the original's field order; fields we added come last.
"""

from __future__ import annotations

import binascii
import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

U64_MAX = 2**64 - 1

# msgspec cannot express `le=2**64 - 1` (it stops at int64), so request structs check it in
# __post_init__ and the config checks its own limits.
U64 = Annotated[int, Meta(ge=0)]
PositiveU64 = Annotated[int, Meta(ge=1)]

FILE_NAME_PATTERN = r"^[a-zA-Z0-9._-]{1,32}$"
ENV_VAR_NAME_PATTERN = r"^[a-zA-Z0-9_]{1,64}$"
_FILE_NAME_RE = re.compile(r"[a-zA-Z0-9._-]{1,32}")
_ENV_VAR_NAME_RE = re.compile(r"[a-zA-Z0-9_]{1,64}")

FileName = Annotated[
    str,
    Meta(min_length=1, max_length=32, pattern=FILE_NAME_PATTERN,
         description="File name: letters, digits, `.`, `_` and `-`; 1 to 32 characters.",
         examples=["code.py"]),
]
EnvVarName = Annotated[
    str,
    Meta(min_length=1, max_length=64, pattern=ENV_VAR_NAME_PATTERN,
         description="Variable name: letters, digits and `_`; 1 to 64 characters.",
         examples=["DEBUG"]),
]
# "[^\0]*" cannot be fooled by the final-newline rule of "$": it matches any
# string without NUL, and the length is checked separately, in characters.
# Sizes and counts are limited by the configuration (`request_limits`, shown in `GET /config`),
# checked after decoding (api/request_limits.py); the descriptions give Sandkasten's values, the
# defaults.
EnvVarValue = Annotated[
    str, Meta(pattern=r"^[^\x00]*$", description="No NUL; at most `request_limits.env_var_length` "
                                                 "characters (default 256).")
]
Argument = Annotated[
    str, Meta(pattern=r"^[^\x00]*$", description="No NUL; at most `request_limits.arg_length` "
                                                 "characters (default 4096).")
]
FileContent = Annotated[str, Meta(description="At most `request_limits.file_length` characters "
                                              "(default 65536).")]


def _check_full_match(pattern: re.Pattern[str], value: str, what: str) -> None:
    if pattern.fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} does not match `{pattern.pattern}`")


Encoding = Annotated[Literal["utf-8", "base64"], Meta(
    description="How `content` holds the file's bytes: `utf-8` (the default) is the text itself; "
                "`base64` is standard base64 with padding (for binary files such as a `.wasm` "
                "module); invalid base64 is a 422. `null` means `utf-8`.")]


def _file_bytes(content: str, encoding: str | None) -> bytes:
    if encoding == "base64":
        return binascii.a2b_base64(content, strict_mode=True)
    return content.encode()


def _check_encoding(content: str, encoding: str | None) -> None:
    if encoding == "base64":
        try:
            binascii.a2b_base64(content, strict_mode=True)
        except binascii.Error as e:
            raise ValueError(f"content is not valid base64 ({e})") from None


# --------------------------------------------------------------------------- requests


class MainFile(msgspec.Struct, kw_only=True):
    """The main file of a program. Its name defaults to the environment's default main file name."""

    name: FileName | None = None
    content: Annotated[FileContent, Meta(examples=["print(6 * 7)"])]
    encoding: Encoding | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            _check_full_match(_FILE_NAME_RE, self.name, "file name")
        _check_encoding(self.content, self.encoding)

    def data(self) -> bytes:
        """The file's bytes."""
        return _file_bytes(self.content, self.encoding)


class File(msgspec.Struct):
    """A file placed in the working directory (`/box`) of a build or run step."""

    name: FileName
    content: Annotated[FileContent, Meta(examples=["1 2 3"])]
    encoding: Encoding | None = None

    def __post_init__(self) -> None:
        _check_full_match(_FILE_NAME_RE, self.name, "file name")
        _check_encoding(self.content, self.encoding)

    def data(self) -> bytes:
        """The file's bytes."""
        return _file_bytes(self.content, self.encoding)


class EnvVar(msgspec.Struct):
    """An environment variable passed to a build or run step."""

    name: EnvVarName
    value: Annotated[EnvVarValue, Meta(examples=["1"])]

    def __post_init__(self) -> None:
        _check_full_match(_ENV_VAR_NAME_RE, self.name, "environment variable name")


# The ten limits, in the order in which they are checked and serialized.
LIMIT_NAMES: tuple[str, ...] = (
    "cpus", "time", "memory", "tmpfs", "filesize", "file_descriptors", "processes",
    "stdout_max_size", "stderr_max_size", "network",
)


class LimitsOpt(msgspec.Struct):
    """Requested limits. A missing or `null` field means the configured maximum."""

    cpus: Annotated[PositiveU64, Meta(description="Number of CPUs the job may run on.",
                                      examples=[1])] | None = None
    time: Annotated[PositiveU64, Meta(description="Wall-clock time limit in seconds.",
                                      examples=[2])] | None = None
    memory: Annotated[PositiveU64, Meta(description="Memory limit in MB (1 MB = 1,000,000 bytes).",
                                        examples=[128])] | None = None
    tmpfs: Annotated[U64, Meta(description="Size of the `/tmp` tmpfs in MB; 0 means no `/tmp`.",
                               examples=[0])] | None = None
    filesize: Annotated[PositiveU64, Meta(description="Largest file the job may write, in MB.",
                                          examples=[1])] | None = None
    file_descriptors: Annotated[PositiveU64, Meta(
        description="Maximum number of open file descriptors.", examples=[64])] | None = None
    processes: Annotated[PositiveU64, Meta(description="Maximum number of processes and threads.",
                                           examples=[8])] | None = None
    stdout_max_size: Annotated[U64, Meta(description="Bytes of stdout kept; more ends the job.",
                                         examples=[4096])] | None = None
    stderr_max_size: Annotated[U64, Meta(description="Bytes of stderr kept; more ends the job.",
                                         examples=[4096])] | None = None
    network: Annotated[bool, Meta(description="Whether the job may reach the network.",
                                  examples=[False])] | None = None

    def __post_init__(self) -> None:
        for name in LIMIT_NAMES:
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and value > U64_MAX:
                raise ValueError(f"`{name}` is larger than 2^64 - 1")


class BuildRequest(msgspec.Struct):
    """A program to build: environment, main file, more files, build env vars and compile limits."""

    environment: Annotated[str, Meta(description="Environment id, a key of `GET /environments`.",
                                     examples=["python"])]
    main_file: Annotated[MainFile, Meta(description="The file the environment compiles or runs.")]
    files: Annotated[list[File], Meta(
        description="Further files next to the main file (at most `request_limits.files`, "
                    "default 10).")] | None = None
    env_vars: Annotated[list[EnvVar], Meta(
        description="Environment variables of the compile step (at most `request_limits.env_vars`, "
                    "default 16); part of the cache key.")] | None = None
    compile_limits: Annotated[LimitsOpt | None, Meta(
        description="Limits of the compile step; missing fields mean the configured maximum."
    )] = None
    compile_args: Annotated[list[Argument], Meta(
        description="Arguments added to the compiler's, for environments that allow some (their "
                    "`compile_args` in `GET /environments` says which; the others refuse any); "
                    "part of the cache key. Refused: 400 `invalid_compile_args`.",
        examples=[["-O0", "-sEXPORTED_FUNCTIONS=_main,_add"]])] | None = None


class RunRequest(msgspec.Struct):
    """How to run a built program: stdin, args, extra files, env vars and run limits."""

    stdin: Annotated[str, Meta(description="Standard input of the program (at most "
                                           "`request_limits.stdin_length` characters, default 65536).",
                               examples=["42"])] | None = None
    args: Annotated[list[Argument], Meta(
        description="Command-line arguments (at most `request_limits.args`, default 100).",
        examples=[["--verbose"]])] | None = None
    files: Annotated[list[File], Meta(
        description="Files placed next to the program for this run (at most `request_limits.files`, "
                    "default 10).")] | None = None
    env_vars: Annotated[list[EnvVar], Meta(
        description="Environment variables of the run (at most `request_limits.env_vars`, default 16)."
    )] | None = None
    run_limits: Annotated[LimitsOpt | None, Meta(
        description="Limits of the run; missing fields mean the configured maximum.")] = None
    base64_output: Annotated[bool | None, Meta(
        description="If true, `stdout` and `stderr` of the result are the program's bytes in "
                    "base64, so that output which is not UTF-8 arrives unchanged (otherwise "
                    "they are decoded as UTF-8, each invalid byte becoming U+FFFD).")] = None


class BatchRun(RunRequest):
    """One run of a batch: a run request and, optionally, the stdout it should print."""

    expected_stdout: Annotated[str | None, Meta(
        description="What the run should print on stdout; with it the run's `passed` says whether "
                    "it did (compared as the batch's `compare` says), exited 0 and ran into no "
                    "limit.")] = None


Compare = Literal["exact", "trailing_whitespace", "tokens"]


class PipelineProcess(msgspec.Struct, kw_only=True):
    """One process of a pipeline: a program built before and how to run it."""

    program_id: Annotated[str, Meta(description="The program (from `POST /programs`).",
                                    examples=["0f3c2b8e-6a5d-5c4b-9e8f-1a2b3c4d5e6f"])]
    run: Annotated[RunRequest | None, Meta(
        description="How to run it; its `stdin` is ignored when a pipe feeds its stdin.")] = None


class Pipe(msgspec.Struct, kw_only=True):
    """A stream of one process fed to the stdin of another, as it is written."""

    from_: Annotated[tuple[int, Literal["stdout", "stderr"]], Meta(
        description="The writing process (its index in `processes`) and its stream.",
        examples=[[0, "stdout"]])] = msgspec.field(name="from")
    to: Annotated[tuple[int, Literal["stdin"]], Meta(
        description="The reading process and `stdin`.", examples=[[1, "stdin"]])]


class PipelineRequest(msgspec.Struct, kw_only=True):
    """Processes that run at the same time, each in its own jail with its own limits, connected
    by pipes: an interactor and a solution of an interactive judge, a producer and a consumer."""

    processes: Annotated[list[PipelineProcess], Meta(
        min_length=1, description="The processes (at most `request_limits.pipeline_processes`).")]
    pipes: Annotated[list[Pipe], Meta(
        description="What connects them; each stream and each stdin in at most one pipe.")] = (
        msgspec.field(default_factory=list))


class BatchRequest(msgspec.Struct, kw_only=True):
    """Many runs of one built program: test cases of a judge, or repetitions for timing."""

    runs: Annotated[list[BatchRun], Meta(
        min_length=1,
        description="The runs, each a run request with an optional `expected_stdout` (at most "
                    "`request_limits.batch_runs` runs, counting repetitions).")]
    count: Annotated[int, Meta(ge=1, description="How often each run is repeated (one after "
                                                 "another in the results).")] = 1
    compare: Annotated[Compare, Meta(
        description="How stdout is compared with `expected_stdout`: `exact`; "
                    "`trailing_whitespace` (whitespace at the end of each line and empty lines at "
                    "the end do not count); `tokens` (the same whitespace-separated words).")] = (
        "trailing_whitespace")
    stop_on_failure: Annotated[bool, Meta(
        description="Start no more runs once one has failed (did not pass, or without "
                    "`expected_stdout` exited non-zero or ran into a limit); the results then hold "
                    "the runs that were started.")] = False


class BuildBatchRequest(msgspec.Struct):
    """Build a program and run a batch of it straight away."""

    build: Annotated[BuildRequest, Meta(description="The program to build, as for `POST /programs`.")]
    batch: Annotated[BatchRequest, Meta(description="The runs, as for `POST /programs/{program_id}/batch`.")]


class BuildRunRequest(msgspec.Struct):
    """Build a program and run it straight away."""

    build: Annotated[BuildRequest, Meta(description="The program to build, as for `POST /programs`.")]
    run: Annotated[RunRequest | None, Meta(
        description="How to run it, as for `POST /programs/{program_id}/run`; `null` runs it "
                    "with no input and the default limits.")] = None


# -------------------------------------------------------------------------- responses


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Effective limits of a step (and the configured maximums, which are also the defaults)."""

    cpus: Annotated[U64, Meta(description="Number of CPUs the job may run on.")]
    time: Annotated[U64, Meta(description="Wall-clock time limit in seconds.")]
    memory: Annotated[U64, Meta(description="Memory limit in MB (1 MB = 1,000,000 bytes).")]
    tmpfs: Annotated[U64, Meta(description="Size of the `/tmp` tmpfs in MB; 0 means no `/tmp`.")]
    filesize: Annotated[U64, Meta(description="Largest file the job may write, in MB.")]
    file_descriptors: Annotated[U64, Meta(description="Maximum number of open file descriptors.")]
    processes: Annotated[U64, Meta(description="Maximum number of processes and threads.")]
    stdout_max_size: Annotated[U64, Meta(description="Bytes of stdout kept; more ends the job.")]
    stderr_max_size: Annotated[U64, Meta(description="Bytes of stderr kept; more ends the job.")]
    network: Annotated[bool, Meta(description="Whether the job may reach the network.")]




class LimitExceeded(msgspec.Struct, frozen=True):
    """A requested limit above the configured maximum."""

    name: Annotated[str, Meta(examples=["time"])]
    max_value: U64


class ResourceUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Resources used by a step."""

    time: Annotated[U64, Meta(description="Wall-clock time in milliseconds, sandbox setup included.")]
    memory: Annotated[U64, Meta(description="Peak resident memory of the largest process, in KB.")]
    cpu_time: Annotated[U64, Meta(description="CPU time of all processes in milliseconds.")] = 0


class RunResult(msgspec.Struct, kw_only=True):
    """The outcome of a compile or run step."""

    status: Annotated[int, Meta(description="Exit code; 128 + signal number if killed by a signal.")]
    stdout: str
    stderr: str
    resource_usage: ResourceUsage
    limits: Limits
    exceeded: Annotated[
        list[str],
        Meta(description="Limits that ended the job: `time`, `memory`, `processes`, `filesize`, "
                         "`stdout_max_size`, `stderr_max_size`. Empty if it ended by itself."),
    ] = []


class ArtifactInfo(msgspec.Struct, kw_only=True):
    """One file of a program's build output."""

    name: Annotated[str, Meta(description="Path below `/program`, `/`-separated.")]
    size: Annotated[U64, Meta(description="Bytes.")]
    sha256: Annotated[str, Meta(description="SHA-256 of the content, hex; also the file's ETag.")]
    content_type: Annotated[str, Meta(description="The Content-Type it is served with.")]


class ArtifactList(msgspec.Struct, kw_only=True):
    """The files of a program's build output."""

    artifacts: list[ArtifactInfo]


class BuildResult(msgspec.Struct, kw_only=True):
    """A built program."""

    program_id: Annotated[str, Meta(description="UUID of the program, to run it again.")]
    ttl: Annotated[U64, Meta(description="Seconds the program is kept after its last use.")]
    cached: Annotated[bool, Meta(description="Whether the program had been built before.")]
    compile_result: Annotated[
        RunResult | None, Meta(description="`null` if the environment has no compile step.")
    ]


class BuildRunResult(msgspec.Struct, kw_only=True):
    """A built program and the result of running it."""

    program_id: str
    ttl: U64
    cached: bool
    build: RunResult | None
    run: RunResult


class BatchItem(msgspec.Struct, kw_only=True):
    """One run of a batch."""

    run: RunResult
    passed: Annotated[bool | None, Meta(
        description="Whether the run printed its `expected_stdout`, exited 0 and ran into no "
                    "limit; null without `expected_stdout`.")]


class Spread(msgspec.Struct, kw_only=True):
    """The smallest, mean and largest of a measure over the runs of a batch."""

    min: float
    avg: float
    max: float


class BatchSummary(msgspec.Struct, kw_only=True):
    """What the runs of a batch add up to."""

    runs: Annotated[U64, Meta(description="Runs in `results`.")]
    passed: Annotated[U64, Meta(description="Runs that passed.")]
    failed: Annotated[U64, Meta(description="Runs with `expected_stdout` that did not pass.")]
    time: Annotated[Spread, Meta(description="Wall time of the runs in ms (`resource_usage.time`).")]
    memory: Annotated[Spread, Meta(description="Peak memory of the runs in KB (`resource_usage.memory`).")]
    outputs_agree: Annotated[bool, Meta(description="Whether every run printed the same stdout.")]


class BatchResult(msgspec.Struct, kw_only=True):
    """The runs of a batch, in request order (each run's repetitions together), and their sum."""

    results: list[BatchItem]
    summary: BatchSummary


class PipelineResult(msgspec.Struct, kw_only=True):
    """How each process ended, in the order of `processes`; a piped stream is not repeated in
    its writer's result (it is empty there)."""

    results: list[RunResult]


class BuildBatchResult(msgspec.Struct, kw_only=True):
    """A built program and the results of its batch."""

    program_id: str
    ttl: U64
    cached: bool
    build: RunResult | None
    batch: BatchResult


class Environment(msgspec.Struct, kw_only=True):
    """An environment (language) programs can be built and run in."""

    name: Annotated[str, Meta(examples=["Python"])]
    version: Annotated[str, Meta(examples=["3.11.2"])]
    default_main_file_name: Annotated[str, Meta(examples=["code.py"])]
    example: str | None = None
    meta: Annotated[Any, Meta(description="Free-form metadata (homepage, packages, compiler...).")] = {}
    compile_args: Annotated[str | None, Meta(
        description="Which `compile_args` a build may add, or `null`: the environment takes none."
    )] = None


class BenchmarkResult(msgspec.Struct, frozen=True):
    """Minimum, mean (rounded down) and maximum of a series of measurements."""

    min: U64
    avg: U64
    max: U64

    @classmethod
    def of(cls, values: list[int]) -> BenchmarkResult:
        """Summarise a non-empty list of measurements."""
        return cls(min=min(values), avg=sum(values) // len(values), max=max(values))


class RunResourceUsage(msgspec.Struct, frozen=True):
    """Time (ms) and memory (KB) statistics over the benchmark runs."""

    time: BenchmarkResult
    memory: BenchmarkResult


class BaseResourceUsage(msgspec.Struct, frozen=True):
    """Resources an almost empty program uses in an environment."""

    build: ResourceUsage | None
    run: RunResourceUsage


class RequestLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes and counts a request may have (Sandkasten's values are the defaults)."""

    files: Annotated[U64, Meta(description="Files of a build, and of a run.")] = 10
    file_length: Annotated[U64, Meta(description="Characters of a file's content, the main file's too.")] = 65536
    stdin_length: Annotated[U64, Meta(description="Characters of a run's stdin.")] = 65536
    args: Annotated[U64, Meta(description="Arguments of a run.")] = 100
    arg_length: Annotated[U64, Meta(description="Characters of an argument.")] = 4096
    env_vars: Annotated[U64, Meta(description="Environment variables of a build, and of a run.")] = 16
    env_var_length: Annotated[U64, Meta(description="Characters of an environment variable's value.")] = 256
    batch_runs: Annotated[U64, Meta(description="Runs of a batch, its `count` repetitions counted.")] = 1000
    pipeline_processes: Annotated[U64, Meta(description="Processes of a pipeline.")] = 8
    body_size: Annotated[U64, Meta(
        description="Bytes of a request body (raise it with the others: at the defaults, the "
                    "largest valid body is about 22 MB).")] = 32 * 1024 * 1024


class PublicConfig(msgspec.Struct, kw_only=True):
    """The public part of the server's configuration."""

    program_ttl: U64
    max_concurrent_jobs: U64
    compile_limits: Limits
    run_limits: Limits
    base_resource_usage_runs: U64
    request_limits: Annotated[RequestLimits, Meta(
        description="Sizes and counts a request may have (ours; additive).")] = RequestLimits()
