"""`sandkasten run` without a server: command line, environment inference, request, local errors."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from sandkasten_py.client import BuildRunError, ErrorResponse, error_from_response
from sandkasten_py.runcli import (
    DEFAULT_SERVER, LocalFile, UsageError, build_request, check_sizes, describe_api_error,
    exit_status, infer_environment, main, parse_options, program_files, read_local_file, server_url,
)
from sandkasten_py.schemas import EnvVar, Environment, LimitsOpt, RequestLimits

UNREACHABLE = "http://127.0.0.1:1"


def environment(main_file: str) -> Environment:
    return Environment(name=main_file, version="1", default_main_file_name=main_file)


ENVIRONMENTS = {
    "python": environment("code.py"),
    "c": environment("code.c"),
    "cpp": environment("code.cpp"),
    "r": environment("code.R"),
    "make": environment("Makefile"),
}


# ------------------------------------------------------------------------- inference


@pytest.mark.parametrize(("file_name", "expected"), [
    ("hello.py", "python"),
    ("main.c", "c"),
    ("a.b.cpp", "cpp"),
    ("stats.R", "r"),
    ("stats.r", "r"),  # no exact match: case is ignored
])
def test_the_environment_is_the_one_whose_default_main_file_has_the_extension(
    file_name: str, expected: str
) -> None:
    assert infer_environment(file_name, ENVIRONMENTS) == expected


def test_no_matching_extension_lists_the_environments_and_names_env() -> None:
    with pytest.raises(UsageError) as raised:
        infer_environment("hello.xyz", ENVIRONMENTS)
    message = str(raised.value)
    assert "'.xyz'" in message and "--env" in message
    assert "c, cpp, make, python, r" in message


def test_a_file_without_extension_is_not_matched_with_an_environment_without_one() -> None:
    with pytest.raises(UsageError, match="no extension.*--env"):
        infer_environment("Makefile", ENVIRONMENTS)


def test_several_matches_are_listed() -> None:
    environments = {**ENVIRONMENTS, "python2": environment("code.py"), "pypy": environment("main.py")}
    with pytest.raises(UsageError) as raised:
        infer_environment("hello.py", environments)
    assert "pypy, python, python2" in str(raised.value) and "--env" in str(raised.value)


def test_of_several_matches_the_one_named_like_the_extension_wins() -> None:
    """`.c` is C, although emcc compiles `.c` files too (its default main file is code.c)."""
    environments = {**ENVIRONMENTS, "emcc": environment("code.c")}
    assert infer_environment("main.c", environments) == "c"
    assert infer_environment("main.cpp", environments) == "cpp"


def test_an_exact_match_wins_over_one_ignoring_case() -> None:
    environments = {**ENVIRONMENTS, "rlang": environment("code.r")}
    assert infer_environment("x.r", environments) == "rlang"
    assert infer_environment("x.R", environments) == "r"


# ------------------------------------------------------------------------- command line


def test_arguments_after_double_dash_go_to_the_program_even_if_they_look_like_options() -> None:
    options = parse_options(["main.c", "util.h", "--json", "--", "--verbose", "--", "x.c", "--time", "3"])
    assert options.files == ["main.c", "util.h"]
    assert options.args == ["--verbose", "--", "x.c", "--time", "3"]
    assert options.json and options.limits is None


def test_without_double_dash_there_are_no_args() -> None:
    assert parse_options(["hello.py"]).args == []


def test_only_the_given_limits_are_set() -> None:
    options = parse_options(["hello.py", "--time", "2", "--memory", "64", "--stdout-max-size", "0",
                             "--file-descriptors", "16", "--network"])
    assert options.limits == LimitsOpt(time=2, memory=64, stdout_max_size=0, file_descriptors=16,
                                       network=True)


@pytest.mark.parametrize("argv", [
    ["hello.py", "--time", "0"],  # at least 1
    ["hello.py", "--tmpfs", "-1"],
    ["hello.py", "--memory", "lots"],
    ["hello.py", "--env-var", "NOEQUALS"],
    ["hello.py", "--env-var", "BAD NAME=1"],
    ["hello.py", "--env-var", "NAME\n=1"],
    ["hello.py", "--en", "python"],  # no abbreviations: --env and --env-var are too close
    [],
])
def test_bad_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_options(argv)
    assert raised.value.code == 2
    assert "usage: sandkasten run" in capsys.readouterr().err


def test_env_vars_repeat_and_values_may_contain_equals() -> None:
    options = parse_options(["hello.py", "--env-var", "A=1", "--env-var", "B=x=y", "--env-var", "EMPTY="])
    assert options.env_vars == [EnvVar("A", "1"), EnvVar("B", "x=y"), EnvVar("EMPTY", "")]


def test_server_option_then_variable_then_default() -> None:
    assert server_url("http://a:1", {"SANDKASTEN_URL": "http://b:2"}) == "http://a:1"
    assert server_url(None, {"SANDKASTEN_URL": "http://b:2"}) == "http://b:2"
    assert server_url(None, {}) == DEFAULT_SERVER == "http://127.0.0.1:8000"


# ------------------------------------------------------------------------- request


def test_the_request_carries_names_args_env_vars_and_only_given_limits() -> None:
    options = parse_options(["main.c", "util.h", "data.txt", "--env-var", "DEBUG=1", "--time", "3",
                             "--", "--verbose", "x"])
    main_file, files = program_files([LocalFile("main.c", "int main;"), LocalFile("util.h", "// h"),
                                      LocalFile("data.txt", "1 2")])
    request = msgspec.to_builtins(build_request("c", main_file, files, options, "5\n"))
    assert request["build"] == {
        "environment": "c",
        "main_file": {"name": "main.c", "content": "int main;", "encoding": None},
        "files": [{"name": "util.h", "content": "// h", "encoding": None},
                  {"name": "data.txt", "content": "1 2", "encoding": None}],
        "env_vars": None,  # env vars are for the run step; build ones would change the cache key
        "compile_limits": None,
        "compile_args": None,
    }
    run = request["run"]
    assert (run["stdin"], run["args"], run["files"]) == ("5\n", ["--verbose", "x"], None)
    assert run["env_vars"] == [{"name": "DEBUG", "value": "1"}]
    assert run["run_limits"] == {
        "cpus": None, "time": 3, "memory": None, "tmpfs": None, "filesize": None,
        "file_descriptors": None, "processes": None, "stdout_max_size": None,
        "stderr_max_size": None, "network": None,
    }


def test_a_lone_main_file_with_nothing_else_sends_nulls() -> None:
    main_file, files = program_files([LocalFile("hello.py", "print(1)")])
    options = parse_options(["hello.py"])
    request = msgspec.to_builtins(build_request("python", main_file, files, options, None))
    assert request["build"]["files"] is None
    assert {key: request["run"][key] for key in ("stdin", "args", "files", "env_vars", "run_limits")} == {
        "stdin": None, "args": None, "files": None, "env_vars": None, "run_limits": None}


@pytest.mark.parametrize("name", ["my program.py", "a" * 30 + ".py", "prog\n.py", "ünï.py"])
def test_a_main_file_with_an_invalid_name_is_sent_without_one(name: str) -> None:
    main_file, _ = program_files([LocalFile(name, "print(1)")])
    assert main_file.name is None and main_file.content == "print(1)"


def test_a_further_file_with_an_invalid_name_is_an_error() -> None:
    with pytest.raises(UsageError, match="'my util.h' cannot be sent"):
        program_files([LocalFile("main.c", ""), LocalFile("my util.h", "")])


# ------------------------------------------------------------------------- local files


def test_a_file_is_read_as_utf8_under_its_base_name(tmp_path: Path) -> None:
    path = tmp_path / "grüße.txt"
    path.write_text("héllo\n", encoding="utf-8")
    assert read_local_file(str(path)) == LocalFile("grüße.txt", "héllo\n")


def test_a_non_utf8_file_exits_2_with_one_line_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.py"
    path.write_bytes("print('é')\n".encode("latin-1"))
    assert main([str(path), "--server", UNREACHABLE]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"sandkasten: {path} is not UTF-8 text (byte 7); the API carries only text\n"


LIMITS = RequestLimits(files=2, file_length=10, stdin_length=5)


def test_sizes_within_the_servers_limits_pass() -> None:
    files = [LocalFile("a.py", "x" * 10), LocalFile("b", ""), LocalFile("c", "")]
    check_sizes(["dir/a.py", "b", "c"], files, "12345", LIMITS)
    check_sizes(["dir/a.py"], files[:1], None, LIMITS)


def test_a_file_longer_than_the_server_accepts_is_named() -> None:
    with pytest.raises(UsageError) as raised:
        check_sizes(["main.c", "dir/big.h"], [LocalFile("main.c", ""), LocalFile("big.h", "x" * 11)],
                    None, LIMITS)
    assert str(raised.value) == "dir/big.h has 11 characters; the server accepts at most 10"


def test_stdin_and_the_number_of_files_are_checked_too() -> None:
    with pytest.raises(UsageError, match="^stdin has 6 characters; the server accepts at most 5$"):
        check_sizes(["a"], [LocalFile("a", "")], "123456", LIMITS)
    with pytest.raises(UsageError, match="^3 further files; the server accepts at most 2$"):
        check_sizes(["a", "b", "c", "d"], [LocalFile(name, "") for name in "abcd"], None, LIMITS)


def test_without_published_limits_the_server_accepts_sandkastens_sizes() -> None:
    defaults = RequestLimits()
    assert (defaults.file_length, defaults.stdin_length, defaults.files) == (65536, 65536, 10)


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.py"), "--server", UNREACHABLE]) == 2
    expected = f"sandkasten: cannot read {tmp_path / 'nope.py'}: No such file or directory\n"
    assert capsys.readouterr().err == expected


def test_a_non_utf8_stdin_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.py").write_text("print(1)")
    (tmp_path / "in.bin").write_bytes(b"\xff")
    argv = [str(tmp_path / "ok.py"), "--stdin-file", str(tmp_path / "in.bin"), "--server", UNREACHABLE]
    assert main(argv) == 2
    assert "in.bin is not UTF-8 text" in capsys.readouterr().err


def test_a_server_url_that_is_not_one_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.py").write_text("print(1)")
    argv = [str(tmp_path / "ok.py"), "--stdin-file", str(tmp_path / "ok.py"), "--server", "localhost:8000"]
    assert main(argv) == 2
    assert "must be an absolute http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "expected"), [(0, 0), (3, 3), (137, 137), (255, 255), (256, 1), (-1, 1)])
def test_exit_status(status: int, expected: int) -> None:
    assert exit_status(status) == expected


def test_an_unreachable_server_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.py").write_text("print(1)")
    argv = [str(tmp_path / "ok.py"), "--stdin-file", str(tmp_path / "ok.py"), "--server", UNREACHABLE]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "sandkasten: cannot reach the sandkasten server at http://127.0.0.1:1: Connection refused; "
        "start one with `sandkasten serve` or pass --server\n")


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, b'{"error": "run_limits_exceeded", "details": [{"name": "time", "max_value": 10}, '
          b'{"name": "memory", "max_value": 256}]}', "run_limits_exceeded: time (max 10), memory (max 256)"),
    (422, b'{"error": "unprocessable_content", "reason": "Expected `str` - at `$.build`"}',
     "unprocessable_content: Expected `str` - at `$.build`"),
    (404, b'{"error": "environment_not_found", "message": "there is no environment `x`"}',
     "environment_not_found: there is no environment `x`"),
    (404, b'{"error": "environment_not_found"}', "environment_not_found: HTTP 404"),
])
def test_api_errors_are_named_with_their_details(status: int, body: bytes, expected: str) -> None:
    error = error_from_response(status, body, BuildRunError)
    assert isinstance(error, ErrorResponse)
    assert describe_api_error(error) == expected
