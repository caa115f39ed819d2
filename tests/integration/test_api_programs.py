"""Integration tests of POST /run, POST /programs and POST /programs/{program_id}/run.

A real daemon builds and runs real programs in nsjail. Requests are literal JSON; expectations are
literal too (reference: sandkasten.md §1 and §4). Python and bash are used wherever no compile step
is needed, C where one is.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

import conftest
from conftest import Daemon

pytestmark = pytest.mark.sandbox

COMPILE_MAX = {
    "cpus": 1, "time": 30, "memory": 1024, "tmpfs": 256, "filesize": 16, "file_descriptors": 256,
    "processes": 256, "stdout_max_size": 65536, "stderr_max_size": 65536, "network": False,
}
RUN_MAX = {  # the `daemon` fixture sets RUN_LIMITS__TIME=10
    "cpus": 1, "time": 10, "memory": 256, "tmpfs": 256, "filesize": 16, "file_descriptors": 256,
    "processes": 64, "stdout_max_size": 65536, "stderr_max_size": 65536, "network": False,
}
LIMIT_FIELDS = list(COMPILE_MAX)
ALL_NULL_LIMITS = {name: None for name in LIMIT_FIELDS}

C_OK = '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }\n'
C_BROKEN = "int main(void) { return undeclared_thing_42; }\n"

Json = dict[str, Any]


def unique() -> str:
    """A marker that makes a program new to the cache."""
    return uuid.uuid4().hex


def python(content: str, **extra: Any) -> Json:
    """A build request for a python program."""
    return {"environment": "python", "main_file": {"content": content}, **extra}


def c_program(content: str, **extra: Any) -> Json:
    """A build request for a C program."""
    return {"environment": "c", "main_file": {"content": content}, **extra}


def check_run_result(result: Any, limits: Json) -> None:
    """`result` has the shape of a RunResult (fields we added may follow) with these limits."""
    assert isinstance(result, dict)
    assert list(result)[:5] == ["status", "stdout", "stderr", "resource_usage", "limits"]
    assert type(result["status"]) is int
    assert isinstance(result["stdout"], str) and isinstance(result["stderr"], str)
    usage = result["resource_usage"]
    assert list(usage)[:2] == ["time", "memory"]
    assert type(usage["time"]) is int and usage["time"] >= 0
    assert type(usage["memory"]) is int and usage["memory"] >= 0
    assert result["limits"] == limits
    assert list(result["limits"]) == LIMIT_FIELDS


def check_program_id(program_id: Any) -> None:
    assert isinstance(program_id, str)
    assert str(uuid.UUID(program_id)) == program_id


def error(response: requests.Response, status: int, body: Json) -> None:
    """The response is this exact JSON error, as Sandkasten's clients see it: with our additive
    `message` for people beside it (checked to be text where there is one)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    got = response.json()
    message = got.pop("message", "text")
    assert isinstance(message, str) and message
    assert got == body


def unprocessable(response: requests.Response) -> None:
    """A 422 in the general error envelope."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "reason"}
    assert body["error"] == "unprocessable_content"
    assert isinstance(body["reason"], str) and body["reason"]


def build(daemon: Daemon, request: Json) -> Json:
    response = daemon.post("/programs", json=request)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def program_dirs(daemon: Daemon) -> set[str]:
    return {p.name for p in daemon.programs_dir.iterdir()}


def random_id() -> str:
    return str(uuid.uuid4())


# ============================================================================ happy paths


def test_run_python_with_stdin_args_files_and_env_vars(daemon: Daemon) -> None:
    code = (
        f"# {unique()}\n"
        "import os, sys\n"
        "from helper import greet\n"
        "print(greet(sys.stdin.read()))\n"
        "print(sys.argv[1:])\n"
        "print(open('data.txt').read())\n"
        "print(os.environ.get('COLOUR'), os.environ.get('EMPTY'), os.environ.get('BUILD_ONLY'))\n"
        "print(sorted(os.listdir('.')))\n"
        "sys.stderr.write('to stderr')\n"
    )
    response = daemon.post("/run", json={
        "build": {
            "environment": "python",
            "main_file": {"content": code},
            "files": [{"name": "helper.py", "content": "def greet(name):\n    return 'hi ' + name\n"}],
            "env_vars": [{"name": "BUILD_ONLY", "value": "b"}],
        },
        "run": {
            "stdin": "Ada",
            "args": ["one", "two words", "", "--flag"],
            "files": [{"name": "data.txt", "content": "file content"}],
            "env_vars": [{"name": "COLOUR", "value": "blue"}, {"name": "EMPTY", "value": ""}],
        },
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["program_id", "ttl", "cached", "build", "run"]
    check_program_id(body["program_id"])
    assert body["ttl"] == 600
    assert body["cached"] is False
    assert body["build"] is None
    run = body["run"]
    check_run_result(run, RUN_MAX)
    assert run["status"] == 0, run
    assert run["stdout"] == (
        "hi Ada\n"
        "['one', 'two words', '', '--flag']\n"
        "file content\n"
        "blue  None\n"
        "['data.txt']\n"
    )
    assert run["stderr"] == "to stderr"


def test_build_then_run_a_program(daemon: Daemon) -> None:
    request = python(f"# {unique()}\nimport sys\nprint(sys.argv[1:], input())\n")
    built = build(daemon, request)
    assert list(built) == ["program_id", "ttl", "cached", "compile_result"]
    check_program_id(built["program_id"])
    assert built["ttl"] == 600
    assert built["cached"] is False
    assert built["compile_result"] is None

    response = daemon.post(f"/programs/{built['program_id']}/run",
                           json={"stdin": "from stdin\n", "args": ["x", "y"]})
    assert response.status_code == 200, response.text
    result = response.json()
    check_run_result(result, RUN_MAX)
    assert result["status"] == 0
    assert result["stdout"] == "['x', 'y'] from stdin\n"

    # The same program again: 201 again (not 200), cached, same id.
    again = build(daemon, request)
    assert again == {**built, "cached": True}

    # Runs are independent of one another and repeatable.
    second = daemon.post(f"/programs/{built['program_id']}/run", json={"stdin": "other\n"})
    assert second.status_code == 200
    assert second.json()["stdout"] == "[] other\n"


def test_bash_program(daemon: Daemon) -> None:
    response = daemon.post("/run", json={
        "build": {"environment": "bash", "main_file": {"content": f"# {unique()}\necho \"$1-$(cat)\"\n"}},
        "run": {"stdin": "in", "args": ["arg"]},
    })
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "arg-in\n"
    assert response.json()["run"]["status"] == 0


def test_nonzero_exit_status_is_still_200(daemon: Daemon) -> None:
    response = daemon.post("/run", json={"build": python(f"# {unique()}\nimport sys\nsys.exit(3)\n")})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["status"] == 3


def test_main_file_name_is_used(daemon: Daemon) -> None:
    request = python(f"# {unique()}\nimport sys\nprint(sys.argv[0])\n")
    request["main_file"]["name"] = "main_prog.py"
    response = daemon.post("/run", json={"build": request})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"].strip().endswith("main_prog.py")


def test_run_files_may_reuse_the_main_file_name(daemon: Daemon) -> None:
    """Run files go to /box, the program to /program: a run file named like the main file is fine."""
    built = build(daemon, python(f"# {unique()}\nprint(open('code.py').read())\n"))
    response = daemon.post(f"/programs/{built['program_id']}/run",
                           json={"files": [{"name": "code.py", "content": "data"}]})
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "data\n"


def test_c_program_is_cached_with_identical_compile_result(daemon: Daemon) -> None:
    request = c_program(f"/* {unique()} */\n{C_OK}")
    first = daemon.post("/run", json={"build": request})
    assert first.status_code == 200, first.text
    second = daemon.post("/run", json={"build": request, "run": {"stdin": "ignored"}})
    assert second.status_code == 200, second.text
    a, b = first.json(), second.json()
    assert a["cached"] is False
    assert b["cached"] is True
    assert a["program_id"] == b["program_id"]
    check_run_result(a["build"], COMPILE_MAX)
    assert a["build"]["status"] == 0
    # Byte-identical: the stored compile result is returned, not a new measurement.
    assert json.dumps(b["build"]) == json.dumps(a["build"])
    assert a["run"]["stdout"] == b["run"]["stdout"] == "hello from c\n"

    # POST /programs finds the same build: 201, cached, same compile result.
    built = build(daemon, request)
    assert built["program_id"] == a["program_id"]
    assert built["cached"] is True
    assert json.dumps(built["compile_result"]) == json.dumps(a["build"])


def test_rust_client_nulls_are_accepted(daemon: Daemon) -> None:
    """The Rust client sends every field and `null` for every None."""
    code = f"# {unique()}\nprint('nulls ok')\n"
    response = daemon.post("/run", json={
        "build": {
            "environment": "python",
            "main_file": {"name": None, "content": code},
            "files": [],
            "env_vars": [],
            "compile_limits": ALL_NULL_LIMITS,
        },
        "run": {"stdin": None, "args": [], "files": [], "env_vars": [], "run_limits": ALL_NULL_LIMITS},
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run"]["stdout"] == "nulls ok\n"
    assert body["run"]["limits"] == RUN_MAX

    response = daemon.post("/run", json={"build": python(code), "run": None})
    assert response.status_code == 200, response.text
    assert response.json()["cached"] is True  # name null and name missing are the same request

    built = build(daemon, {"environment": "python", "main_file": {"name": None, "content": code},
                           "files": None, "env_vars": None, "compile_limits": None})
    assert built["program_id"] == body["program_id"]
    response = daemon.post(f"/programs/{built['program_id']}/run", json={
        "stdin": None, "args": None, "files": None, "env_vars": None, "run_limits": None})
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "nulls ok\n"


def test_unknown_fields_are_ignored(daemon: Daemon) -> None:
    response = daemon.post("/run", json={
        "build": {
            "environment": "python",
            "main_file": {"content": f"# {unique()}\nprint(input())", "mode": "0755"},
            "files": [{"name": "a.txt", "content": "", "executable": True}],
            "compile_limits": {"time": 5, "gpus": 4},
            "language_version": "3.99",
        },
        "run": {"stdin": "x", "timeout": 1, "run_limits": {"bogus": None}},
        "priority": "high",
    })
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "x\n"
    error(daemon.post(f"/programs/{random_id()}/run", json={"extra": 1}), 404, {"error": "program_not_found"})


def test_requested_run_limits_are_echoed(daemon: Daemon) -> None:
    limits = {"time": 3, "memory": 128, "processes": 10, "stdout_max_size": 1000, "network": False}
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nprint('ok')"),
        "run": {"run_limits": limits},
    })
    assert response.status_code == 200, response.text
    check_run_result(response.json()["run"], {**RUN_MAX, **limits})
    assert response.json()["run"]["stdout"] == "ok\n"


def test_requested_compile_limits_are_echoed(daemon: Daemon) -> None:
    limits = {"time": 20, "memory": 512, "tmpfs": 100, "network": False}
    response = daemon.post("/programs", json=c_program(f"/* {unique()} */\n{C_OK}", compile_limits=limits))
    assert response.status_code == 201, response.text
    check_run_result(response.json()["compile_result"], {**COMPILE_MAX, **limits})


def test_zero_is_allowed_for_tmpfs_and_output_sizes(daemon: Daemon) -> None:
    """tmpfs, stdout_max_size and stderr_max_size have no minimum (0 = no /tmp, no output)."""
    limits = {"tmpfs": 0, "stdout_max_size": 0, "stderr_max_size": 0}
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nimport os\nos._exit(0 if not os.path.exists('/tmp') else 1)"),
        "run": {"run_limits": limits},
    })
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run["limits"] == {**RUN_MAX, **limits}
    assert run["status"] == 0


def test_output_beyond_the_limit_ends_the_job_and_keeps_the_first_bytes(daemon: Daemon) -> None:
    """Unlike Sandkasten (which dropped the rest silently, reference §3.5), a stream over its cap
    ends the job at once: the first bytes are kept, status is 137 and `exceeded` names the cap."""
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nprint('0123456789' * 10, flush=True)\n"
                        "print('e' * 50, file=__import__('sys').stderr)"),
        "run": {"run_limits": {"stdout_max_size": 5, "stderr_max_size": 3}},
    })
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert (run["status"], run["stdout"]) == (137, "01234")
    assert run["stderr"] in ("", "eee")  # the job may be stopped before it writes to stderr
    assert "stdout_max_size" in run["exceeded"]


def test_output_is_lossy_utf8(daemon: Daemon) -> None:
    code = (f"# {unique()}\nimport sys\n"
            "sys.stdout.buffer.write(b'a\\xffb\\xc3(c\\xe2\\x82\\xac')\n"
            "sys.stderr.buffer.write(b'\\xfe!')\n")
    response = daemon.post("/run", json={"build": python(code)})
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run["status"] == 0
    assert run["stdout"] == "a\ufffdb\ufffd(c\u20ac"
    assert run["stderr"] == "\ufffd!"


def test_program_ids_depend_on_the_build_request_only(daemon: Daemon) -> None:
    code = f"# {unique()}\nprint(1)\n"
    plain = build(daemon, python(code))
    named = build(daemon, {"environment": "python", "main_file": {"name": "code.py", "content": code}})
    with_env = build(daemon, python(code, env_vars=[{"name": "X", "value": "1"}]))
    with_file = build(daemon, python(code, files=[{"name": "x.txt", "content": ""}]))
    ids = {plain["program_id"], named["program_id"], with_env["program_id"], with_file["program_id"]}
    # §4.1: the main file name is hashed as sent (null differs from "code.py").
    assert len(ids) == 4
    assert not any(r["cached"] for r in (plain, named, with_env, with_file))
    # Compile limits are not part of the id.
    limited = build(daemon, python(code, compile_limits={"time": 1}))
    assert limited["program_id"] == plain["program_id"] and limited["cached"] is True


def test_long_values_are_counted_in_characters(daemon: Daemon) -> None:
    """256 'é' are 512 bytes but 256 characters: accepted (and passed on intact)."""
    value = "é" * 256
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nimport os\nprint(len(os.environ['V']), os.environ['V'] == 'é' * 256)"),
        "run": {"env_vars": [{"name": "V", "value": value}]},
    })
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "256 True\n"
    name32 = "n" * 29 + ".py"
    response = daemon.post("/programs", json={"environment": "python",
                                              "main_file": {"name": name32, "content": "pass"}})
    assert response.status_code == 201, response.text


def test_json_content_type_variants_are_accepted(daemon: Daemon) -> None:
    body = json.dumps(python(f"# {unique()}\npass")).encode()
    for content_type in ["application/json; charset=utf-8", "application/vnd.sandkasten+json"]:
        response = daemon.post("/programs", data=body, headers={"Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)


# ================================================================ endpoint errors (§1.6)


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_environment_not_found(daemon: Daemon, path: str) -> None:
    request = {"environment": "brainfuck", "main_file": {"content": "x"}}
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 404, {"error": "environment_not_found"})


def test_environment_ids_are_case_sensitive(daemon: Daemon) -> None:
    response = daemon.post("/programs", json={"environment": "Python", "main_file": {"content": "x"}})
    error(response, 404, {"error": "environment_not_found"})


def test_program_not_found(daemon: Daemon) -> None:
    error(daemon.post(f"/programs/{random_id()}/run", json={}), 404, {"error": "program_not_found"})


def test_program_id_in_upper_case_is_the_same_program(daemon: Daemon) -> None:
    built = build(daemon, python(f"# {unique()}\nprint('upper')"))
    response = daemon.post(f"/programs/{built['program_id'].upper()}/run", json={})
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "upper\n"


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_compile_error(daemon: Daemon, path: str) -> None:
    request = c_program(f"/* {unique()} */\n{C_BROKEN}", compile_limits={"time": 20})
    response = daemon.post(path, json={"build": request, "run": {"stdin": "x"}} if path == "/run" else request)
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["error", "details"]
    assert body["error"] == "compile_error"
    details = body["details"]
    check_run_result(details, {**COMPILE_MAX, "time": 20})
    assert details["status"] != 0
    assert "undeclared_thing_42" in details["stderr"]
    assert "error" in details["stderr"]


def test_compile_errors_are_not_cached(daemon: Daemon) -> None:
    request = c_program(f"/* {unique()} */\n{C_BROKEN}")
    before = program_dirs(daemon)
    for _ in range(2):
        response = daemon.post("/programs", json=request)
        assert response.status_code == 400
        assert response.json()["error"] == "compile_error"
        assert response.json()["details"]["status"] != 0
    response = daemon.post("/run", json={"build": request})
    assert response.json()["error"] == "compile_error"
    # No program directory was left behind by the three failed builds.
    assert program_dirs(daemon) - before == set()


INVALID_FILE_NAMES_BUILD = [
    pytest.param({"files": [{"name": "a.py", "content": ""}, {"name": "a.py", "content": "x"}]},
                 id="duplicate-build-files"),
    pytest.param({"files": [{"name": "..", "content": ""}]}, id="dotdot-build-file"),
    pytest.param({"files": [{"name": ".", "content": ""}]}, id="dot-build-file"),
    pytest.param({"files": [{"name": "...", "content": ""}]}, id="dots-build-file"),
    pytest.param({"main_file": {"name": "..", "content": "x"}}, id="dotdot-main-file"),
    pytest.param({"main_file": {"name": "lib.py", "content": "x"},
                  "files": [{"name": "lib.py", "content": ""}]}, id="main-file-equals-build-file"),
    pytest.param({"files": [{"name": "code.py", "content": ""}]}, id="default-main-file-equals-build-file"),
]


@pytest.mark.parametrize("extra", INVALID_FILE_NAMES_BUILD)
@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_invalid_build_file_names(daemon: Daemon, path: str, extra: Json) -> None:
    request = {"environment": "python", "main_file": {"content": f"# {unique()}"}, **extra}
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 400, {"error": "invalid_file_names"})


def test_main_file_clash_leaves_no_program_behind(daemon: Daemon) -> None:
    request = python(f"# {unique()}", files=[{"name": "code.py", "content": ""}])
    before = program_dirs(daemon)
    error(daemon.post("/programs", json=request), 400, {"error": "invalid_file_names"})
    assert program_dirs(daemon) - before == set()


def test_dotted_names_that_are_not_only_dots_are_valid(daemon: Daemon) -> None:
    request = python(f"# {unique()}\nimport os\nprint(sorted(os.listdir('/program')))",
                     files=[{"name": ".hidden", "content": ""}, {"name": "a..b", "content": ""},
                            {"name": "-x_", "content": ""}])
    response = daemon.post("/run", json={"build": request})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "['-x_', '.hidden', 'a..b', 'code.py']\n"


INVALID_RUN_FILES = [
    pytest.param([{"name": "d.txt", "content": ""}, {"name": "d.txt", "content": ""}], id="duplicate"),
    pytest.param([{"name": "..", "content": ""}], id="dotdot"),
    pytest.param([{"name": "....", "content": ""}], id="dots"),
]


@pytest.mark.parametrize("files", INVALID_RUN_FILES)
def test_invalid_run_file_names_in_run(daemon: Daemon, files: list[Json]) -> None:
    response = daemon.post("/run", json={"build": python(f"# {unique()}"), "run": {"files": files}})
    error(response, 400, {"error": "invalid_file_names"})


@pytest.mark.parametrize("files", INVALID_RUN_FILES)
def test_invalid_run_file_names_in_program_run(daemon: Daemon, files: list[Json]) -> None:
    built = build(daemon, python("print('run files')"))
    response = daemon.post(f"/programs/{built['program_id']}/run", json={"files": files})
    error(response, 400, {"error": "invalid_file_names"})


def test_same_name_in_build_and_run_files_is_valid(daemon: Daemon) -> None:
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nprint(open('/program/f.txt').read(), open('f.txt').read())",
                        files=[{"name": "f.txt", "content": "build"}]),
        "run": {"files": [{"name": "f.txt", "content": "run"}]},
    })
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "build run\n"


UNDERSCORE = [{"name": "_", "value": "x"}]


@pytest.mark.parametrize("where", ["build", "run"])
def test_invalid_env_vars_in_run(daemon: Daemon, where: str) -> None:
    request: Json = {"build": python(f"# {unique()}"), "run": {}}
    target = request["build"] if where == "build" else request["run"]
    target["env_vars"] = [{"name": "OK", "value": "1"}, *UNDERSCORE]
    error(daemon.post("/run", json=request), 400, {"error": "invalid_env_vars"})


def test_invalid_env_vars_in_build(daemon: Daemon) -> None:
    error(daemon.post("/programs", json=python("pass", env_vars=UNDERSCORE)), 400, {"error": "invalid_env_vars"})


def test_invalid_env_vars_in_program_run(daemon: Daemon) -> None:
    built = build(daemon, python("print('env')"))
    response = daemon.post(f"/programs/{built['program_id']}/run", json={"env_vars": UNDERSCORE})
    error(response, 400, {"error": "invalid_env_vars"})


def test_underscores_in_longer_names_are_valid(daemon: Daemon) -> None:
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}\nimport os\nprint(os.environ['__'], os.environ['_A'], os.environ['9'])"),
        "run": {"env_vars": [{"name": "__", "value": "1"}, {"name": "_A", "value": "2"}, {"name": "9", "value": "3"}]},
    })
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "1 2 3\n"


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_compile_limits_exceeded_lists_every_limit_in_field_order(daemon: Daemon, path: str) -> None:
    # Given out of order on purpose: the answer follows the field order.
    limits = {"network": True, "memory": 1025, "time": 31}
    request = python(f"# {unique()}", compile_limits=limits)
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 400, {"error": "compile_limits_exceeded", "details": [
        {"name": "time", "max_value": 30},
        {"name": "memory", "max_value": 1024},
        {"name": "network", "max_value": 0},
    ]})


def test_compile_limits_exceeded_all_ten(daemon: Daemon) -> None:
    too_high = {name: (True if name == "network" else value + 1) for name, value in COMPILE_MAX.items()}
    response = daemon.post("/programs", json=python(f"# {unique()}", compile_limits=too_high))
    error(response, 400, {"error": "compile_limits_exceeded", "details": [
        {"name": name, "max_value": int(value)} for name, value in COMPILE_MAX.items()]})


def test_limits_equal_to_the_maximum_are_accepted(daemon: Daemon) -> None:
    response = daemon.post("/run", json={"build": python(f"# {unique()}\nprint(2)", compile_limits=COMPILE_MAX),
                                         "run": {"run_limits": RUN_MAX}})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["limits"] == RUN_MAX


def test_run_limits_exceeded_in_run(daemon: Daemon) -> None:
    response = daemon.post("/run", json={
        "build": python(f"# {unique()}"),
        "run": {"run_limits": {"time": 11, "memory": 100, "processes": 65, "network": True}},
    })
    error(response, 400, {"error": "run_limits_exceeded", "details": [
        {"name": "time", "max_value": 10},
        {"name": "processes", "max_value": 64},
        {"name": "network", "max_value": 0},
    ]})


def test_run_limits_exceeded_in_program_run(daemon: Daemon) -> None:
    built = build(daemon, python("print('limits')"))
    response = daemon.post(f"/programs/{built['program_id']}/run",
                           json={"run_limits": {"memory": 257, "stderr_max_size": 65537}})
    error(response, 400, {"error": "run_limits_exceeded", "details": [
        {"name": "memory", "max_value": 256},
        {"name": "stderr_max_size", "max_value": 65536},
    ]})


def test_largest_u64_is_parsed_and_reported_as_exceeded(daemon: Daemon) -> None:
    response = daemon.post(f"/programs/{random_id()}/run", json={"run_limits": {"time": 2**64 - 1}})
    error(response, 400, {"error": "run_limits_exceeded", "details": [{"name": "time", "max_value": 10}]})


# ===================================================================== 422 and 415 (§1.2, §1.3)


def post_raw(daemon: Daemon, path: str, body: bytes, content_type: str | None = "application/json") -> requests.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return requests.post(daemon.url + path, data=body, headers=headers, timeout=60)


@pytest.mark.parametrize("path", ["/run", "/programs", f"/programs/{uuid.uuid4()}/run"])
@pytest.mark.parametrize("body", [
    pytest.param(b'{"build": {', id="truncated"),
    pytest.param(b"{'environment': 'python'}", id="single-quotes"),
    pytest.param(b"", id="empty"),
    pytest.param(b"null", id="null"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'"text"', id="string"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
])
def test_malformed_bodies(daemon: Daemon, path: str, body: bytes) -> None:
    unprocessable(post_raw(daemon, path, body))


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_empty_body_reason(daemon: Daemon, path: str) -> None:
    response = post_raw(daemon, path, b"")
    unprocessable(response)
    expected = "BuildRunRequest" if path == "/run" else "BuildRequest"
    assert response.json()["reason"] == f'Expected input type "{expected}", found null.'


MAIN = {"content": "print(1)"}

INVALID_BUILD_REQUESTS = [
    pytest.param({"main_file": MAIN}, id="missing-environment"),
    pytest.param({"environment": "python"}, id="missing-main-file"),
    pytest.param({"environment": "python", "main_file": {}}, id="missing-content"),
    pytest.param({"environment": "python", "main_file": {"name": "a.py"}}, id="missing-content-named"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": [{"name": "a"}]}, id="file-without-content"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": [{"content": ""}]}, id="file-without-name"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A"}]}, id="env-without-value"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"value": "a"}]}, id="env-without-name"),
    pytest.param({"environment": None, "main_file": MAIN}, id="environment-null"),
    pytest.param({"environment": "python", "main_file": None}, id="main-file-null"),
    pytest.param({"environment": "python", "main_file": {"content": None}}, id="content-null"),
    pytest.param({"environment": 1, "main_file": MAIN}, id="environment-int"),
    pytest.param({"environment": "python", "main_file": "print(1)"}, id="main-file-string"),
    pytest.param({"environment": "python", "main_file": {"content": 1}}, id="content-int"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": {}}, id="files-object"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A", "value": 1}]},
                 id="env-value-int"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": []}, id="limits-array"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"time": "5"}}, id="time-string"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"time": 1.5}}, id="time-float"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"time": True}}, id="time-bool"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"network": 1}}, id="network-int"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"network": "true"}},
                 id="network-string"),
    # Validators.
    pytest.param({"environment": "python", "main_file": {"name": "code.py\n", "content": ""}}, id="main-name-newline"),
    pytest.param({"environment": "python", "main_file": {"name": "", "content": ""}}, id="main-name-empty"),
    pytest.param({"environment": "python", "main_file": {"name": "a/b", "content": ""}}, id="main-name-slash"),
    pytest.param({"environment": "python", "main_file": {"name": "a" * 33, "content": ""}}, id="main-name-33"),
    pytest.param({"environment": "python", "main_file": {"name": "é.py", "content": ""}}, id="main-name-unicode"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": [{"name": "code.py\n", "content": ""}]},
                 id="file-name-newline"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": [{"name": "\ncode.py", "content": ""}]},
                 id="file-name-leading-newline"),
    pytest.param({"environment": "python", "main_file": MAIN, "files": [{"name": "a b", "content": ""}]},
                 id="file-name-space"),
    pytest.param({"environment": "python", "main_file": MAIN,
                  "files": [{"name": f"f{i}", "content": ""} for i in range(11)]}, id="eleven-files"),
    pytest.param({"environment": "python", "main_file": {"content": "é" * 65537}}, id="content-65537-chars"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A\n", "value": ""}]},
                 id="env-name-newline"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A-B", "value": ""}]},
                 id="env-name-dash"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "", "value": ""}]},
                 id="env-name-empty"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A" * 65, "value": ""}]},
                 id="env-name-65"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A", "value": "é" * 257}]},
                 id="env-value-257-chars"),
    pytest.param({"environment": "python", "main_file": MAIN, "env_vars": [{"name": "A", "value": "a\u0000b"}]},
                 id="env-value-nul"),
    pytest.param({"environment": "python", "main_file": MAIN,
                  "env_vars": [{"name": f"V{i}", "value": ""} for i in range(17)]}, id="seventeen-env-vars"),
    *[pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {name: 0}}, id=f"{name}-0")
      for name in ["cpus", "time", "memory", "filesize", "file_descriptors", "processes"]],
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"time": -1}}, id="time-negative"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"tmpfs": -1}}, id="tmpfs-negative"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"time": 2**64}}, id="time-2**64"),
    pytest.param({"environment": "python", "main_file": MAIN, "compile_limits": {"stdout_max_size": 2**64}},
                 id="stdout-2**64"),
]


@pytest.mark.parametrize("request_body", INVALID_BUILD_REQUESTS)
def test_invalid_build_request_is_422(daemon: Daemon, request_body: Json) -> None:
    unprocessable(daemon.post("/programs", json=request_body))
    unprocessable(daemon.post("/run", json={"build": request_body}))


INVALID_RUN_REQUESTS = [
    pytest.param({"stdin": 1}, id="stdin-int"),
    pytest.param({"stdin": "é" * 65537}, id="stdin-65537-chars"),
    pytest.param({"args": "a"}, id="args-string"),
    pytest.param({"args": [1]}, id="arg-int"),
    pytest.param({"args": [None]}, id="arg-null"),
    pytest.param({"args": ["a\u0000"]}, id="arg-nul"),
    pytest.param({"args": ["é" * 4097]}, id="arg-4097-chars"),
    pytest.param({"args": ["a"] * 101}, id="101-args"),
    pytest.param({"files": [{"name": "x.txt\n", "content": ""}]}, id="file-name-newline"),
    pytest.param({"files": [{"name": "x"}]}, id="file-without-content"),
    pytest.param({"env_vars": [{"name": "A", "value": "é" * 257}]}, id="env-value-257-chars"),
    pytest.param({"env_vars": [{"name": "A\n", "value": ""}]}, id="env-name-newline"),
    pytest.param({"run_limits": {"time": 0}}, id="time-0"),
    pytest.param({"run_limits": {"cpus": -3}}, id="cpus-negative"),
    pytest.param({"run_limits": {"memory": 2**64}}, id="memory-2**64"),
    pytest.param({"run_limits": {"processes": 1e3}}, id="processes-float"),
]


@pytest.mark.parametrize("request_body", INVALID_RUN_REQUESTS)
def test_invalid_run_request_is_422(daemon: Daemon, request_body: Json) -> None:
    # A random id: the body is rejected before the program is looked up.
    unprocessable(daemon.post(f"/programs/{random_id()}/run", json=request_body))
    unprocessable(daemon.post("/run", json={"build": python("pass"), "run": request_body}))


@pytest.mark.parametrize("body", [{}, {"run": {}}, {"build": None}, {"build": "x"}])
def test_invalid_build_run_request_is_422(daemon: Daemon, body: Json) -> None:
    unprocessable(daemon.post("/run", json=body))


@pytest.mark.parametrize("program_id", [
    "abc", "123", "00000000-0000-0000-0000-00000000000g", "00000000-0000-0000-0000-0000000000000",
])
def test_non_uuid_program_id_is_422(daemon: Daemon, program_id: str) -> None:
    response = daemon.post(f"/programs/{program_id}/run", json={})
    unprocessable(response)
    assert "program_id" in response.json()["reason"]


def test_non_uuid_program_id_wins_over_a_bad_body(daemon: Daemon) -> None:
    response = post_raw(daemon, "/programs/not-a-uuid/run", b"{")
    unprocessable(response)
    assert "program_id" in response.json()["reason"]


@pytest.mark.parametrize("path", ["/run", "/programs", f"/programs/{uuid.uuid4()}/run"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415_in_the_envelope(daemon: Daemon, path: str, content_type: str | None) -> None:
    """A body that is not declared JSON: 415 (Sandkasten answered plain text; now every answer
    is in the error envelope), with a message that says what to send."""
    body = json.dumps({"build": python("pass")} if path == "/run" else python("pass")).encode()
    response = post_raw(daemon, path, body, content_type)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "unsupported_media_type"
    assert "send `Content-Type: application/json`" in response.json()["message"]


def test_a_run_without_any_body_runs_with_the_defaults(daemon: Daemon) -> None:
    """No Content-Type and nothing sent: as `{}` (Sandkasten answered 415)."""
    program = build(daemon, python(f"# {unique()}\nimport sys\nprint(repr(sys.stdin.read()), sys.argv[1:])"))
    response = requests.post(f"{daemon.url}/programs/{program['program_id']}/run", timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "'' []\n"
    assert response.json()["limits"] == daemon.get("/config").json()["run_limits"]


# ======================================================================== order of checks (§1.5)


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_invalid_file_names_win_over_unknown_environment(daemon: Daemon, path: str) -> None:
    request = {"environment": "brainfuck", "main_file": {"content": "x"},
               "files": [{"name": "a", "content": ""}, {"name": "a", "content": ""}]}
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 400, {"error": "invalid_file_names"})


def test_invalid_run_file_names_win_over_unknown_environment(daemon: Daemon) -> None:
    response = daemon.post("/run", json={"build": {"environment": "brainfuck", "main_file": {"content": "x"}},
                                         "run": {"files": [{"name": "..", "content": ""}]}})
    error(response, 400, {"error": "invalid_file_names"})


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_invalid_env_vars_win_over_unknown_environment(daemon: Daemon, path: str) -> None:
    request = {"environment": "brainfuck", "main_file": {"content": "x"}, "env_vars": UNDERSCORE}
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 400, {"error": "invalid_env_vars"})


def test_invalid_file_names_win_over_invalid_env_vars(daemon: Daemon) -> None:
    request = {"environment": "python", "main_file": {"name": ".", "content": "x"}, "env_vars": UNDERSCORE}
    error(daemon.post("/programs", json=request), 400, {"error": "invalid_file_names"})
    built = build(daemon, python("print('order')"))
    response = daemon.post(f"/programs/{built['program_id']}/run",
                           json={"files": [{"name": "..", "content": ""}], "env_vars": UNDERSCORE})
    error(response, 400, {"error": "invalid_file_names"})


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_unknown_environment_wins_over_compile_limits(daemon: Daemon, path: str) -> None:
    request = {"environment": "brainfuck", "main_file": {"content": "x"}, "compile_limits": {"time": 999}}
    response = daemon.post(path, json={"build": request} if path == "/run" else request)
    error(response, 404, {"error": "environment_not_found"})


def test_unknown_environment_wins_over_run_limits(daemon: Daemon) -> None:
    response = daemon.post("/run", json={"build": {"environment": "brainfuck", "main_file": {"content": "x"}},
                                         "run": {"run_limits": {"time": 999}}})
    error(response, 404, {"error": "environment_not_found"})


def test_compile_limits_win_over_main_file_clash(daemon: Daemon) -> None:
    request = python(f"# {unique()}", files=[{"name": "code.py", "content": ""}], compile_limits={"cpus": 2})
    error(daemon.post("/programs", json=request), 400,
          {"error": "compile_limits_exceeded", "details": [{"name": "cpus", "max_value": 1}]})


def test_compile_error_wins_over_run_limits(daemon: Daemon) -> None:
    response = daemon.post("/run", json={"build": c_program(f"/* {unique()} */\n{C_BROKEN}"),
                                         "run": {"run_limits": {"time": 999}}})
    assert response.status_code == 400
    assert response.json()["error"] == "compile_error"


def test_run_limits_exceeded_wins_over_program_not_found(daemon: Daemon) -> None:
    response = daemon.post(f"/programs/{random_id()}/run", json={"run_limits": {"cpus": 2, "network": True}})
    error(response, 400, {"error": "run_limits_exceeded", "details": [
        {"name": "cpus", "max_value": 1}, {"name": "network", "max_value": 0}]})


def test_program_is_built_and_cached_before_run_limits_are_checked(daemon: Daemon) -> None:
    request = python(f"# {unique()}\nprint('built anyway')")
    response = daemon.post("/run", json={"build": request, "run": {"run_limits": {"time": 11}}})
    error(response, 400, {"error": "run_limits_exceeded", "details": [{"name": "time", "max_value": 10}]})
    assert build(daemon, request)["cached"] is True


@pytest.mark.parametrize("path", ["/run", "/programs"])
def test_compile_limits_are_not_checked_for_a_cached_program(daemon: Daemon, path: str) -> None:
    request = c_program(f"/* {unique()} */\n{C_OK}")
    first = build(daemon, request)
    assert first["cached"] is False
    too_high = {**request, "compile_limits": {"time": 31, "memory": 99999}}
    response = daemon.post(path, json={"build": too_high} if path == "/run" else too_high)
    assert response.status_code == (200 if path == "/run" else 201), response.text
    body = response.json()
    assert body["cached"] is True
    assert body["program_id"] == first["program_id"]
    stored = body["build"] if path == "/run" else body["compile_result"]
    assert json.dumps(stored) == json.dumps(first["compile_result"])


def test_compile_limits_are_checked_for_a_new_program(daemon: Daemon) -> None:
    before = program_dirs(daemon)
    request = c_program(f"/* {unique()} */\n{C_OK}", compile_limits={"time": 31})
    error(daemon.post("/programs", json=request), 400,
          {"error": "compile_limits_exceeded", "details": [{"name": "time", "max_value": 30}]})
    assert program_dirs(daemon) - before == set()
    # Nothing was cached: a valid request builds it now.
    assert build(daemon, {**request, "compile_limits": None})["cached"] is False


# ============================================================================ concurrency


def test_concurrent_identical_builds_build_once(daemon: Daemon) -> None:
    request = python(f"# {unique()}\nprint('concurrent')")

    def post(_: int) -> requests.Response:
        return daemon.post("/programs", json=request)

    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(post, range(128)))
    assert [r.status_code for r in responses] == [201] * 128, {r.status_code for r in responses}
    bodies = [r.json() for r in responses]
    assert len({b["program_id"] for b in bodies}) == 1
    assert [b["cached"] for b in bodies].count(False) == 1
    run = daemon.post(f"/programs/{bodies[0]['program_id']}/run", json={})
    assert run.json()["stdout"] == "concurrent\n"


def test_concurrent_identical_compiled_build_and_runs(daemon: Daemon) -> None:
    """Concurrent /run requests of a new C program: one compile, every run sees the built program."""
    request = c_program(f"/* {unique()} */\n{C_OK}")

    def post(_: int) -> requests.Response:
        return daemon.post("/run", json={"build": request})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    bodies = [r.json() for r in responses]
    assert [b["cached"] for b in bodies].count(False) == 1
    assert {json.dumps(b["build"]) for b in bodies} == {json.dumps(bodies[0]["build"])}
    assert {b["run"]["stdout"] for b in bodies} == {"hello from c\n"}



def test_concurrent_runs_each_get_their_own_stdin_and_output(daemon: Daemon) -> None:
    built = build(daemon, python(f"# {unique()}\nimport sys\nprint(sys.stdin.read()[::-1])"))

    def run(i: int) -> requests.Response:
        return daemon.post(f"/programs/{built['program_id']}/run", json={"stdin": f"input-{i:03d}"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(run, range(48)))
    outcomes = [(r.status_code, r.json().get("status"), r.json().get("stdout")) for r in responses]
    assert outcomes == [(200, 0, f"input-{i:03d}"[::-1] + "\n") for i in range(48)]

# ================================================================== storage, restart, jobs dir


def test_jobs_dir_is_empty_after_requests(daemon: Daemon) -> None:
    assert daemon.post("/run", json={"build": python(f"# {unique()}\nprint(1)"),
                                     "run": {"files": [{"name": "f", "content": "x"}]}}).status_code == 200
    assert daemon.post("/run", json={"build": c_program(f"/* {unique()} */\n{C_BROKEN}")}).status_code == 400
    wait_until(lambda: [p.name for p in daemon.jobs_dir.iterdir()] == [".lock"], 5,
               "a jobs dir holding only the daemon's lock")


def restart(daemon: Daemon) -> Daemon:
    """Stop `daemon` (if running) and start a new one on the same programs and jobs dirs."""
    daemon.stop()
    workdir = daemon.programs_dir.parent
    assert daemon.jobs_dir.parent == workdir
    return conftest.start_daemon(workdir)


@pytest.fixture
def restartable(daemon_factory: Callable[..., Daemon]) -> Iterator[list[Daemon]]:
    """A list holding one new daemon; restarted daemons appended to it are stopped afterwards."""
    daemons = [daemon_factory()]
    try:
        yield daemons
    finally:
        for started in daemons:
            started.stop()


def test_programs_survive_a_restart(restartable: list[Daemon]) -> None:
    first = restartable[0]
    request = c_program(f"/* {unique()} */\n{C_OK}")
    built = build(first, request)
    assert built["cached"] is False
    second = restart(first)
    restartable.append(second)
    again = build(second, request)
    assert again["cached"] is True
    assert again["program_id"] == built["program_id"]
    assert json.dumps(again["compile_result"]) == json.dumps(built["compile_result"])
    response = second.post(f"/programs/{built['program_id']}/run", json={})
    assert response.status_code == 200
    assert response.json()["stdout"] == "hello from c\n"


def test_jobs_dir_is_cleared_at_start(restartable: list[Daemon]) -> None:
    first = restartable[0]
    first.stop()
    (first.jobs_dir / "junk-file").write_text("junk")
    (first.jobs_dir / "junk-dir" / "box").mkdir(parents=True)
    (first.jobs_dir / "junk-dir" / "box" / "code.py").write_text("junk")
    (first.jobs_dir / "junk-link").symlink_to(first.programs_dir)
    marker = first.programs_dir / "not-a-program"  # a stale non-program entry: pruned at start
    marker.mkdir()
    second = restart(first)
    restartable.append(second)
    # cleared in the background, after the daemon answers
    wait_until(lambda: [p.name for p in second.jobs_dir.iterdir()] == [".lock"], 10, "a cleared jobs dir")
    assert first.programs_dir.is_dir()  # the link was removed, not followed
    wait_until(lambda: not marker.exists(), 10, "the first prune sweep")


# ================================================================================ pruning


@pytest.fixture(scope="module")
def pruning_daemon(daemon_factory: Callable[..., Daemon]) -> Iterator[Daemon]:
    daemon = daemon_factory(PROGRAM_TTL="1", PRUNE_PROGRAMS_INTERVAL="1")
    yield daemon
    daemon.stop()


def test_expired_programs_are_pruned(pruning_daemon: Daemon) -> None:
    built = build(pruning_daemon, python(f"# {unique()}\nprint(1)"))
    assert built["ttl"] == 1
    program_dir = pruning_daemon.programs_dir / built["program_id"]
    # Poll the directory, not the API: every run postpones the expiry.
    wait_until(lambda: not program_dir.exists(), 10, "the program to be pruned")
    response = pruning_daemon.post(f"/programs/{built['program_id']}/run", json={})
    error(response, 404, {"error": "program_not_found"})


def test_a_program_in_use_is_not_pruned(pruning_daemon: Daemon) -> None:
    code = (f"# {unique()}\nimport time\n"
            "time.sleep(3)\n"
            "print(len(open('/program/code.py').read()))\n")
    response = pruning_daemon.post("/run", json={"build": python(code)})
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert (run["status"], run["stdout"], run["stderr"]) == (0, f"{len(code)}\n", "")



def test_a_job_can_reopen_its_own_stdio(daemon: Daemon) -> None:
    """`/dev/stdin`, `/dev/stdout` and `/dev/stderr` can be opened by the job (Fortran, `cat`)."""
    code = f"# {unique()}\ncat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr\n"
    response = daemon.post("/run", json={
        "build": {"environment": "bash", "main_file": {"content": code}},
        "run": {"stdin": "in\n"},
    })
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert (run["status"], run["stdout"], run["stderr"]) == (0, "in\nout\n", "err\n")


def test_binary_files_travel_as_base64_both_ways(daemon: Daemon) -> None:
    """Build files (in /program) and run files (in the working directory) with `encoding:
    "base64"` arrive as their exact bytes (all 256 byte values); the program's binary output
    comes back with `base64_output`."""
    every_byte = bytes(range(256))
    code = ("import sys\nbuilt = open('/program/built.bin', 'rb').read()\nran = open('ran.bin', 'rb').read()\n"
            "sys.stdout.buffer.write(built[::-1] + ran)\n" f"# {uuid.uuid4()}\n")
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": code},
                  "files": [{"name": "built.bin", "content": base64.b64encode(every_byte).decode(),
                             "encoding": "base64"}]},
        "run": {"files": [{"name": "ran.bin", "content": "AP8=", "encoding": "base64"}], "base64_output": True},
    })
    assert response.status_code == 200, response.text
    assert base64.b64decode(response.json()["run"]["stdout"]) == every_byte[::-1] + b"\x00\xff"


def test_invalid_base64_is_422(daemon: Daemon) -> None:
    response = daemon.post("/programs", json={"environment": "python", "main_file": {
        "content": "not base64!", "encoding": "base64"}})
    assert response.status_code == 422, response.text
    assert "base64" in response.json()["reason"]
