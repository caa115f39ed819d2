"""`sandkasten run`: build and run local files on a sandkasten server, as if they ran here.

The pure parts (command line, environment inference, the request) are plain functions; `main`
reads the files and stdin, calls the server through `SandkastenClient` and turns the result
into this process's output and exit status. Every failure is one line on stderr (argparse's
usage errors add the usage line):

    exit status   when
    the program's it ran (128 + N if signal N ended it)
    1             the compile step failed (its output is shown first)
    2             a usage error, a file or stdin that cannot be sent, no server, an API error
    3             with --tests: a test case failed (testcases.py)
With -i the run is an interactive session (interactive.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import msgspec
import msgspec.inspect
import requests

from sandkasten_py.client import (
    CompileError, ErrorResponse, InvalidResponse, LimitsExceeded, SandkastenClient, SessionClosed, TransportError,
    UnprocessableContent,
)
from sandkasten_py.interactive import relay
from sandkasten_py.schemas import (
    FILE_NAME_PATTERN, BuildBatchRequest, BuildRequest, BuildRunRequest, BuildRunResult, Compare, EnvVar,
    Environment, File, LimitsOpt, MainFile, RequestLimits, RunRequest, RunResult,
)
from sandkasten_py.testcases import TESTS_FAILED, CasesError, batch_request, check_cases, read_cases, report

DEFAULT_SERVER = "http://127.0.0.1:8000"
SERVER_VARIABLE = "SANDKASTEN_URL"
TOKEN_VARIABLE = "SANDKASTEN_TOKEN"  # sent as `Authorization: Bearer` (daemons with `auth`)
# What a server that does not publish `request_limits` in GET /config accepts (Sandkasten's).
DEFAULT_REQUEST_LIMITS = RequestLimits()
# A status outside 0..255 cannot be an exit status; 1 keeps it from passing for success.
_OUT_OF_RANGE_STATUS = 1

DESCRIPTION = f"""\
Build and run local files on a sandkasten server, and show the program's output
as if it had run here. The first FILE is the main file; further FILEs (sources,
headers, data) are placed next to it under their base names. Files and stdin
are sent as UTF-8 text, at most as long as the server accepts (GET /config
`request_limits`; {DEFAULT_REQUEST_LIMITS.file_length} characters by default).

server:       --server URL, else ${SERVER_VARIABLE}, else {DEFAULT_SERVER};
              ${TOKEN_VARIABLE}, if set, is sent as its bearer token.
environment:  --env ID, else the environment of GET /environments whose default
              main file has the main file's extension: hello.py runs in the one
              whose default main file is code.py (exact match first, then
              ignoring case). No match, or several, is an error (use --env).
main file:    sent under its own base name if that is a valid file name (1 to
              32 of a-z A-Z 0-9 . _ -), else under the environment's default.
stdin:        this command's stdin, read to the end, unless it is a terminal
              (then none); --stdin-file PATH instead.
arguments:    everything after `--` is passed to the program.
output:       the program's stdout and stderr, unchanged, then a line
              `sandkasten: limits exceeded: ...` on stderr if a limit ended it.
              --json prints the whole result (or the error body) instead.
exit status:  the program's (128 + N if signal N ended it: 137 after --time);
              1 on a compile error, whatever the compiler's status (its output
              is shown, then `sandkasten: compile error (status N)`);
              2 if the server cannot be reached, a file cannot be sent, the
              environment is unknown or ambiguous, or the server rejects the
              request (`sandkasten: <error name>: <details>`).
interactive:  -i runs the program in a session: what you type reaches it as you
              type it, Ctrl-D ends its stdin, Ctrl-C sends it SIGINT, and its
              output appears as it is written.
test cases:   --tests DIR runs the program once per pair of files NAME.in (its
              stdin) and NAME.out (the stdout it must print) in DIR, all in one
              batch on the server, and prints a line per case and a summary;
              --compare says how outputs are compared (default: trailing
              whitespace does not count). Exit status 0 if every case passed,
              {TESTS_FAILED} if one failed."""

EPILOG = """\
examples:
  sandkasten run hello.py
      run hello.py in the environment for .py files
  echo 5 | sandkasten run main.c util.h -- --verbose
      compile main.c with util.h next to it, run it with "5" and a newline
      on stdin and the argument --verbose
  sandkasten run solution.cpp --tests tests/
      compile once, run every tests/NAME.in, compare with tests/NAME.out"""


class UsageError(Exception):
    """A problem with the command line, a local file or the choice of environment: exit 2."""


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    files: list[str]
    args: list[str]
    server: str | None
    environment: str | None
    stdin_file: str | None
    env_vars: list[EnvVar]
    limits: LimitsOpt | None
    json: bool
    tests: str | None = None
    compare: Compare = "trailing_whitespace"
    interactive: bool = False


@dataclass(frozen=True)
class LocalFile:
    """A file read from disk: its base name and its text."""

    name: str
    content: str


# ------------------------------------------------------------------------- command line


def _limit_options() -> list[tuple[str, msgspec.inspect.Type, str]]:
    """(field, value type, description) of each LimitsOpt field, so a new limit is a new option."""
    info = msgspec.inspect.type_info(LimitsOpt)
    if not isinstance(info, msgspec.inspect.StructType):
        raise TypeError("LimitsOpt is not a Struct")
    options = []
    for field in info.fields:
        union = field.type
        if not isinstance(union, msgspec.inspect.UnionType):
            raise TypeError(f"LimitsOpt.{field.name} is not optional")
        (meta,) = [t for t in union.types if isinstance(t, msgspec.inspect.Metadata)]
        description = str((meta.extra_json_schema or {}).get("description", ""))
        options.append((field.name, meta.type, description))
    return options


def _bounded_int(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def parse_env_var(text: str) -> EnvVar:
    """`NAME=VALUE` as an EnvVar (argparse type of --env-var)."""
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return EnvVar(name=name, value=value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def make_parser() -> argparse.ArgumentParser:
    """The argparse parser of `sandkasten run` (the program's arguments are split off first)."""
    parser = argparse.ArgumentParser(
        prog="sandkasten run", usage="%(prog)s FILE [FILE ...] [options] [-- ARGS ...]",
        description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="the main file, then further files of the program")
    parser.add_argument("--server", metavar="URL",
                        help=f"the sandkasten server (default: ${SERVER_VARIABLE}, else {DEFAULT_SERVER})")
    parser.add_argument("--env", metavar="ID", dest="environment",
                        help="the environment id (default: inferred from the main file's extension)")
    parser.add_argument("--stdin-file", metavar="PATH", help="send this file as stdin")
    parser.add_argument("--env-var", metavar="NAME=VALUE", type=parse_env_var, action="append",
                        default=[], dest="env_vars", help="an environment variable of the run (repeatable)")
    parser.add_argument("--json", action="store_true",
                        help="print the whole result (or the error body) as JSON instead of the output")
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="run in an interactive session (stdin as you type, output as it comes)")
    parser.add_argument("--tests", metavar="DIR",
                        help="run the test cases of DIR (NAME.in and NAME.out pairs) in one batch")
    parser.add_argument("--compare", choices=["exact", "trailing_whitespace", "tokens"],
                        default="trailing_whitespace", help="how --tests compares outputs "
                        "(default: trailing_whitespace)")
    limits = parser.add_argument_group("run limits (not given: the server's default, its maximum)")
    for name, value_type, description in _limit_options():
        flag = "--" + name.replace("_", "-")
        if isinstance(value_type, msgspec.inspect.BoolType):
            limits.add_argument(flag, dest=f"limit_{name}", action="store_const", const=True,
                                help=description)
        elif isinstance(value_type, msgspec.inspect.IntType):
            limits.add_argument(flag, dest=f"limit_{name}", metavar="N",
                                type=_bounded_int(value_type.ge or 0), help=description)
        else:
            raise TypeError(f"no option for LimitsOpt.{name} of type {value_type}")
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Parse the command line; everything after the first `--` is the program's arguments."""
    argv = list(argv)
    ours, args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    namespace = make_parser().parse_args(ours)
    given = {name: value for name, value in vars(namespace).items()
             if name.startswith("limit_") and value is not None}
    limits = LimitsOpt(**{name.removeprefix("limit_"): value for name, value in given.items()})
    return Options(files=namespace.files, args=args, server=namespace.server,
                   environment=namespace.environment, stdin_file=namespace.stdin_file,
                   env_vars=namespace.env_vars, limits=limits if given else None, json=namespace.json,
                   tests=namespace.tests, compare=namespace.compare, interactive=namespace.interactive)


def server_url(option: str | None, environ: Mapping[str, str]) -> str:
    """--server, else $SANDKASTEN_URL, else the default."""
    return option or environ.get(SERVER_VARIABLE) or DEFAULT_SERVER


# ------------------------------------------------------------------------- files and request


def decode_text(data: bytes, what: str) -> str:
    """`data` as UTF-8 text, or a UsageError naming `what`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} is not UTF-8 text (byte {e.start}); the API carries only text") from None


def read_local_file(path: str) -> LocalFile:
    """A file's base name and UTF-8 text, or a UsageError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    return LocalFile(name=os.path.basename(path), content=decode_text(data, path))


def check_sizes(paths: Sequence[str], files: Sequence[LocalFile], stdin: str | None,
                limits: RequestLimits) -> None:
    """Raise a UsageError naming the first file (or stdin) longer than the server accepts."""
    # The server would say the same with a 422 and a JSON path; this names the file instead.
    if len(files) - 1 > limits.files:
        raise UsageError(f"{len(files) - 1} further files; the server accepts at most {limits.files}")
    for path, file in zip(paths, files):
        if len(file.content) > limits.file_length:
            raise UsageError(f"{path} has {len(file.content)} characters; "
                             f"the server accepts at most {limits.file_length}")
    if stdin is not None and len(stdin) > limits.stdin_length:
        raise UsageError(f"stdin has {len(stdin)} characters; "
                         f"the server accepts at most {limits.stdin_length}")


def read_stdin(stdin_file: str | None, stdin: TextIO | None) -> str | None:
    """--stdin-file's text, else `stdin` read to the end unless it is a terminal (then None)."""
    if stdin_file is not None:
        return read_local_file(stdin_file).content
    if stdin is None or stdin.isatty():
        return None
    try:
        data = stdin.buffer.read()
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read stdin: {e}") from None
    return decode_text(data, "stdin")


def is_file_name(name: str) -> bool:
    """Whether the API accepts `name` as a file name."""
    return re.fullmatch(FILE_NAME_PATTERN, name) is not None


def program_files(files: Sequence[LocalFile]) -> tuple[MainFile, list[File]]:
    """The main file (named only if its name is valid) and the further files of the build."""
    main, *extras = files
    for extra in extras:
        if not is_file_name(extra.name):
            raise UsageError(f"{extra.name!r} cannot be sent: further files need a name of 1 to 32 "
                             "letters, digits, `.`, `_` or `-` (rename it)")
    # An invalid main file name is not an error: the server then uses the environment's default.
    main_file = MainFile(name=main.name if is_file_name(main.name) else None, content=main.content)
    return main_file, [File(name=extra.name, content=extra.content) for extra in extras]


def infer_environment(main_file_name: str, environments: Mapping[str, Environment]) -> str:
    """The id of the only environment whose default main file has the extension of `main_file_name`
    or, where several have it, of the one named like the extension (`.c`: `c`, not `emcc`)."""
    ids = ", ".join(sorted(environments))
    extension = Path(main_file_name).suffix
    if not extension:
        raise UsageError(f"{main_file_name} has no extension to infer the environment from; "
                         f"pass --env with one of: {ids}")
    by_extension = {id_: Path(env.default_main_file_name).suffix for id_, env in environments.items()}
    matches = sorted(id_ for id_, ext in by_extension.items() if ext == extension)
    if not matches:  # `hello.r` for R's `code.R`
        matches = sorted(id_ for id_, ext in by_extension.items() if ext.lower() == extension.lower())
    if not matches:
        raise UsageError(f"no environment has main files ending in {extension!r}; "
                         f"pass --env with one of: {ids}")
    if len(matches) > 1 and extension[1:].lower() in matches:
        return extension[1:].lower()
    if len(matches) > 1:
        raise UsageError(f"{extension!r} files match several environments: {', '.join(matches)}; "
                         "pass --env with one of them")
    return matches[0]


def build_request(
    environment: str, main_file: MainFile, files: list[File], options: Options, stdin: str | None
) -> BuildRunRequest:
    """The build-and-run request: the files for the build, stdin, args, env vars and limits for the run."""
    return BuildRunRequest(
        build=BuildRequest(environment=environment, main_file=main_file, files=files or None),
        run=RunRequest(stdin=stdin, args=options.args or None, env_vars=options.env_vars or None,
                       run_limits=options.limits),
    )


# ------------------------------------------------------------------------- output


def _write(stream: TextIO, text: str) -> None:
    # Bytes, not text: a C or ASCII locale must not turn a UTF-8 result into an encoding error.
    binary: BinaryIO | None = getattr(stream, "buffer", None)
    if binary is None:  # a StringIO put in place by a caller that runs main() in-process
        stream.write(text)
        return
    stream.flush()
    binary.write(text.encode("utf-8", errors="replace"))
    binary.flush()


def _write_json(value: Any) -> None:
    _write(sys.stdout, msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n")


def exit_status(status: int) -> int:
    """The program's status as this command's exit status."""
    return status if 0 <= status <= 255 else _OUT_OF_RANGE_STATUS


def show_step(result: RunResult) -> None:
    """A step's stdout and stderr, then the limits that ended it."""
    _write(sys.stdout, result.stdout)
    _write(sys.stderr, result.stderr)
    if result.exceeded:
        _write(sys.stderr, f"sandkasten: limits exceeded: {', '.join(result.exceeded)}\n")


def describe_api_error(error: ErrorResponse) -> str:
    """`<error name>: <what was wrong>` for an error answer of the server."""
    if error.message:  # the server's own words (sandkasten-py)
        detail = error.message
    elif isinstance(error, LimitsExceeded):
        detail = ", ".join(f"{item.name} (max {item.max_value})" for item in error.exceeded)
    elif isinstance(error, UnprocessableContent) and error.reason:
        detail = error.reason
    else:
        detail = f"HTTP {error.status_code}"
    return f"{error.error or 'error'}: {detail}"


def _fail(message: str) -> int:
    # One line, even if a server message or a file name brings a newline.
    _write(sys.stderr, f"sandkasten: {' '.join(message.splitlines())}\n")
    return 2


# ------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    """Entry point of `sandkasten run`; returns the exit status (see the module docstring)."""
    options = parse_options(argv)
    server = server_url(options.server, os.environ)
    try:
        # Everything local is checked before the server is asked anything.
        local_files = [read_local_file(path) for path in options.files]
        main_file, files = program_files(local_files)
        if options.tests is not None:
            return _run_tests(options, server, main_file, files, local_files)
        if options.interactive:
            return _run_interactive(options, server, main_file, files, local_files)
        stdin = read_stdin(options.stdin_file, sys.stdin)
        client = _client(server)
        with client:
            check_sizes(options.files, local_files, stdin, client.get_config().request_limits)
            environment = _environment(options, client)
            result = client.build_and_run(build_request(environment, main_file, files, options, stdin))
    except UsageError as e:
        return _fail(str(e))
    except CompileError as e:
        if options.json:
            _write_json(e.body)
        else:
            show_step(e.result)
            _write(sys.stderr, f"sandkasten: compile error (status {e.result.status})\n")
        return 1
    except ErrorResponse as e:
        if options.json:
            _write_json(e.body)
            return 2
        return _fail(describe_api_error(e))
    except InvalidResponse as e:
        return _fail(f"the server at {server} does not answer like a sandkasten server: {e}")
    except TransportError as e:
        if isinstance(e.__cause__, requests.ReadTimeout):  # connected, but the job took too long
            return _fail(f"the sandkasten server at {server} did not answer in time: {_root_cause(e)}")
        return _fail(f"cannot reach the sandkasten server at {server}: {_root_cause(e)}; "
                     "start one with `sandkasten serve` or pass --server")
    return _show_result(result, options.json)


def _client(server: str) -> SandkastenClient:
    """A client of `server`, with $SANDKASTEN_TOKEN as its token if set."""
    try:
        return SandkastenClient(server, token=os.environ.get(TOKEN_VARIABLE))
    except ValueError as e:
        raise UsageError(f"--server / ${SERVER_VARIABLE}: {e}") from None


def _environment(options: Options, client: SandkastenClient) -> str:
    """--env, else the environment the main file's extension says."""
    return options.environment or infer_environment(os.path.basename(options.files[0]), client.list_environments())


def _run_tests(options: Options, server: str, main_file: MainFile, files: list[File],
               local_files: list[LocalFile]) -> int:
    """`--tests DIR`: build once, run every case in one batch, report (UsageError as in main)."""
    if options.stdin_file is not None:
        raise UsageError("--stdin-file and --tests do not go together: each test case has its stdin")
    try:
        cases = read_cases(options.tests or "")
    except CasesError as e:
        raise UsageError(f"--tests {options.tests}: {e}") from None
    client = _client(server)
    with client:
        limits = client.get_config().request_limits
        check_sizes(options.files, local_files, None, limits)
        try:
            check_cases(cases, limits)
        except CasesError as e:
            raise UsageError(f"--tests {options.tests}: {e}") from None
        environment = _environment(options, client)
        result = client.build_and_batch(BuildBatchRequest(
            build=BuildRequest(environment=environment, main_file=main_file, files=files or None),
            batch=batch_request(cases, args=options.args, env_vars=options.env_vars, limits=options.limits,
                                compare=options.compare)))
    if options.json:
        _write_json(result)
        return 0 if result.batch.summary.passed == len(cases) else TESTS_FAILED
    text, status = report(cases, result.batch)
    _write(sys.stdout, text)
    return status


def _run_interactive(options: Options, server: str, main_file: MainFile, files: list[File],
                     local_files: list[LocalFile]) -> int:
    """-i: build, then relay a session to this terminal (errors as in main)."""
    if options.stdin_file is not None or options.json:
        raise UsageError("-i takes its stdin from the terminal and shows output as it comes: "
                         "not with --stdin-file or --json")
    client = _client(server)
    with client:
        check_sizes(options.files, local_files, None, client.get_config().request_limits)
        environment = _environment(options, client)
        built = client.build(BuildRequest(environment=environment, main_file=main_file, files=files or None))
        if built.compile_result is not None and built.compile_result.stderr:
            _write(sys.stderr, built.compile_result.stderr)  # warnings
        request = RunRequest(args=options.args or None, env_vars=options.env_vars or None,
                             run_limits=options.limits)
        try:
            with client.connect(built.program_id, request) as session:
                result = relay(session, sys.stdin.fileno() if sys.stdin is not None else None,
                               sys.stdout.buffer, sys.stderr.buffer)
        except SessionClosed as e:
            return _fail(f"session ended: {e.reason} ({e.code})")
    if result.exceeded:
        _write(sys.stderr, f"sandkasten: limits exceeded: {', '.join(result.exceeded)}\n")
    return exit_status(result.status)


def _show_result(result: BuildRunResult, as_json: bool) -> int:
    if as_json:
        _write_json(result)
    else:
        show_step(result.run)
    return exit_status(result.run.status)


def _root_cause(error: BaseException) -> str:
    # requests wraps urllib3 wraps the socket error; "Connection refused" is what a person needs,
    # not "HTTPConnectionPool(host=..., port=1): Max retries exceeded with url: ...".
    cause: BaseException | None = error
    deepest = str(error)
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            deepest = cause.strerror
        cause = cause.__cause__ or cause.__context__
    return " ".join(deepest.split())
