"""The Python client (sandkasten_py.client) against a real daemon: every method, and the typed
error of every endpoint error it can meet.

Requests are built with the client's request types (that is its API); expectations are literals.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import conftest
from conftest import Daemon
from sandkasten_py.client import (
    ArtifactNotFound, ArtifactsError, InvalidCompileArgs, BuildError, BuildRunError, CompileError, CompileLimitsExceeded, EnvironmentNotFound,
    ErrorResponse, GeneralError, GetBaseResourceUsageError, InvalidEnvVars, InvalidFileNames,
    InvalidResponse, NotFound, ProgramNotFound, RunError, RunLimitsExceeded, SandkastenClient,
    SandkastenError, TransportError, UnprocessableContent,
)
from sandkasten_py.schemas import (
    BatchRequest, BatchRun, BuildBatchRequest, BuildRequest, BuildRunRequest, EnvVar, File, LimitsOpt, MainFile,
    RunRequest,
)

pytestmark = pytest.mark.sandbox

COMPILE_MAX = {
    "cpus": 1, "time": 30, "memory": 1024, "tmpfs": 256, "filesize": 16, "file_descriptors": 256,
    "processes": 256, "stdout_max_size": 65536, "stderr_max_size": 65536, "network": False,
}
RUN_MAX = {**COMPILE_MAX, "time": 10, "memory": 256, "processes": 64}  # `daemon` sets run time 10
# Ours, additive in GET /config: the sizes and counts a request may have (the defaults).
REQUEST_LIMITS = {
    "files": 10, "file_length": 65536, "stdin_length": 65536, "args": 100, "arg_length": 4096,
    "env_vars": 16, "env_var_length": 256, "batch_runs": 1000, "pipeline_processes": 8,
    "body_size": 33554432,
}

C_OK = '#include <stdio.h>\nint main(void) { printf("c says %d", 6 * 7); return 0; }\n'
C_BROKEN = "int main(void) { return missing_symbol_17; }\n"


def unique() -> str:
    return uuid.uuid4().hex


def plain(struct: Any) -> Any:
    """A response Struct as JSON-like builtins, to compare with literals."""
    return msgspec.to_builtins(struct)


def sandkasten_body(error: ErrorResponse) -> tuple[dict[str, Any], str]:
    """The error body as Sandkasten's clients see it (without our additive `message`), and the
    message, which must be non-empty text where there is one ("" where there is none)."""
    body = dict(error.body)
    message = body.pop("message", "")
    assert isinstance(message, str)
    assert "message" not in error.body or message
    assert error.message == (message or None)  # the client hands it on
    return body, message


def exceeded(error: CompileLimitsExceeded | RunLimitsExceeded) -> list[tuple[str, int]]:
    return [(item.name, item.max_value) for item in error.exceeded]


@pytest.fixture
def client(daemon: Daemon) -> Iterator[SandkastenClient]:
    with SandkastenClient(daemon.url) as sandkasten:
        yield sandkasten


def python_build(code: str, **kwargs: Any) -> BuildRequest:
    return BuildRequest(environment="python", main_file=MainFile(content=code), **kwargs)


# ================================================================================ methods


def test_version(client: SandkastenClient) -> None:
    assert client.version() == "0.1.0"


def test_get_config(client: SandkastenClient) -> None:
    config = client.get_config()
    assert plain(config) == {
        "program_ttl": 600, "max_concurrent_jobs": 16, "compile_limits": COMPILE_MAX,
        "run_limits": RUN_MAX, "base_resource_usage_runs": 20, "request_limits": REQUEST_LIMITS,
    }


def test_list_environments(client: SandkastenClient) -> None:
    environments = client.list_environments()
    listed = {env_id: (env.name, env.default_main_file_name) for env_id, env in environments.items()}
    assert listed.items() >= {
        "python": ("Python", "code.py"), "bash": ("Bash", "code.sh"), "c": ("C", "code.c"),
        "cpp": ("C++", "code.cpp"), "rust": ("Rust", "code.rs"),
    }.items()
    assert all(isinstance(env.meta, dict) and env.version for env in environments.values())


def test_get_base_resource_usage(client: SandkastenClient) -> None:
    usage = client.get_base_resource_usage("python")
    assert usage.build is None
    for stats in (usage.run.time, usage.run.memory):
        assert 0 <= stats.min <= stats.avg <= stats.max
    assert usage.run.memory.max > 0


def test_build_and_run_the_readme_example(client: SandkastenClient) -> None:
    result = client.build_and_run(BuildRunRequest(
        build=BuildRequest(environment="python", main_file=MainFile(content="print(6 * 7, end='')")),
    ))
    assert result.run.stdout == "42"
    assert result.run.status == 0
    assert result.build is None
    assert result.ttl == 600
    assert str(uuid.UUID(result.program_id)) == result.program_id
    assert plain(result.run.limits) == RUN_MAX


def test_build_and_run_with_everything(client: SandkastenClient) -> None:
    code = (f"# {unique()}\nimport os, sys\nfrom lib import twice\n"
            "print(twice(input()), sys.argv[1:], open('in.txt').read(), os.environ['K'])")
    result = client.build_and_run(BuildRunRequest(
        build=python_build(code, files=[File(name="lib.py", content="def twice(s):\n    return s * 2\n")]),
        run=RunRequest(stdin="ab\n", args=["-v", "x y"], files=[File(name="in.txt", content="file")],
                       env_vars=[EnvVar(name="K", value="v")], run_limits=LimitsOpt(time=2, memory=64)),
    ))
    assert result.cached is False
    assert result.run.status == 0, result.run.stderr
    assert result.run.stdout == "abab ['-v', 'x y'] file v\n"
    assert plain(result.run.limits) == {**RUN_MAX, "time": 2, "memory": 64}


def test_build_then_run(client: SandkastenClient) -> None:
    request = BuildRequest(environment="c", main_file=MainFile(content=f"/* {unique()} */\n{C_OK}"))
    built = client.build(request)
    assert built.cached is False
    assert built.ttl == 600
    assert built.compile_result is not None
    assert built.compile_result.status == 0
    assert plain(built.compile_result.limits) == COMPILE_MAX

    again = client.build(request)
    assert again.cached is True
    assert again.program_id == built.program_id
    assert plain(again.compile_result) == plain(built.compile_result)

    result = client.run(built.program_id)  # no request: the defaults
    assert (result.status, result.stdout) == (0, "c says 42")
    assert plain(result.limits) == RUN_MAX
    by_uuid = client.run(uuid.UUID(built.program_id), RunRequest(run_limits=LimitsOpt(time=1)))
    assert (by_uuid.status, by_uuid.stdout, by_uuid.limits.time) == (0, "c says 42", 1)


def test_run_code(client: SandkastenClient) -> None:
    result = client.run_code("python", f"# {unique()}\nimport sys\nprint(input(), sys.argv[0], sys.argv[1:])",
                             stdin="hello", args=["a", "b"], main_file_name="prog.py")
    assert result.run.stdout == "hello /program/prog.py ['a', 'b']\n"
    with pytest.raises(TypeError):
        client.run_code("python", "pass", args="ab")


def test_base_url_with_trailing_slash(daemon: Daemon) -> None:
    with SandkastenClient(daemon.url + "/") as sandkasten:
        assert sandkasten.get_config().program_ttl == 600


def test_exit_status_is_not_an_error(client: SandkastenClient) -> None:
    result = client.run_code("bash", f"# {unique()}\necho out; echo err >&2; exit 4")
    assert (result.run.status, result.run.stdout, result.run.stderr) == (4, "out\n", "err\n")


# ================================================================================= errors


def test_get_base_resource_usage_environment_not_found(client: SandkastenClient) -> None:
    with pytest.raises(EnvironmentNotFound) as info:
        client.get_base_resource_usage("nonexistent")
    assert isinstance(info.value, GetBaseResourceUsageError)
    assert info.value.status_code == 404
    body, message = sandkasten_body(info.value)
    assert body == {"error": "environment_not_found"}
    assert "`nonexistent`" in message and "python" in message


@pytest.mark.parametrize("name", ["..", "."])
def test_get_base_resource_usage_dot_names_stay_names(client: SandkastenClient, name: str) -> None:
    with pytest.raises(EnvironmentNotFound):
        client.get_base_resource_usage(name)


def test_build_and_run_environment_not_found(client: SandkastenClient) -> None:
    with pytest.raises(EnvironmentNotFound) as info:
        client.build_and_run(BuildRunRequest(build=BuildRequest(environment="brainfuck", main_file=MainFile(content=""))))
    assert isinstance(info.value, BuildRunError)
    assert info.value.status_code == 404


def test_build_environment_not_found(client: SandkastenClient) -> None:
    with pytest.raises(EnvironmentNotFound) as info:
        client.build(BuildRequest(environment="brainfuck", main_file=MainFile(content="")))
    assert isinstance(info.value, BuildError)


def test_build_compile_error(client: SandkastenClient) -> None:
    with pytest.raises(CompileError) as info:
        client.build(BuildRequest(environment="c", main_file=MainFile(content=f"/* {unique()} */\n{C_BROKEN}")))
    error = info.value
    assert isinstance(error, BuildError)
    assert error.status_code == 400
    assert error.error == "compile_error"
    assert error.result.status != 0
    assert "missing_symbol_17" in error.result.stderr
    assert plain(error.result.limits) == COMPILE_MAX


def test_build_and_run_compile_error(client: SandkastenClient) -> None:
    with pytest.raises(CompileError) as info:
        client.build_and_run(BuildRunRequest(build=BuildRequest(
            environment="c", main_file=MainFile(content=f"/* {unique()} */\n{C_BROKEN}"),
            compile_limits=LimitsOpt(time=7))))
    assert isinstance(info.value, BuildRunError)
    assert info.value.result.limits.time == 7
    assert "missing_symbol_17" in info.value.result.stderr


def test_build_invalid_file_names(client: SandkastenClient) -> None:
    with pytest.raises(InvalidFileNames) as info:
        client.build(python_build("pass", files=[File(name="code.py", content="")]))
    assert isinstance(info.value, BuildError)
    body, message = sandkasten_body(info.value)
    assert body == {"error": "invalid_file_names"}
    assert "`code.py`" in message


def test_build_and_run_invalid_file_names(client: SandkastenClient) -> None:
    with pytest.raises(InvalidFileNames) as info:
        client.build_and_run(BuildRunRequest(build=python_build("pass"),
                                             run=RunRequest(files=[File(name="..", content="")])))
    assert isinstance(info.value, BuildRunError)


def test_run_invalid_file_names(client: SandkastenClient) -> None:
    built = client.build(python_build("print('x')"))
    with pytest.raises(InvalidFileNames) as info:
        client.run(built.program_id, RunRequest(files=[File(name="a", content=""), File(name="a", content="")]))
    assert isinstance(info.value, RunError)


def test_invalid_env_vars_on_every_endpoint(client: SandkastenClient) -> None:
    underscore = [EnvVar(name="_", value="")]
    with pytest.raises(InvalidEnvVars) as build_info:
        client.build(python_build("pass", env_vars=underscore))
    assert isinstance(build_info.value, BuildError)
    with pytest.raises(InvalidEnvVars) as build_run_info:
        client.build_and_run(BuildRunRequest(build=python_build("pass"), run=RunRequest(env_vars=underscore)))
    assert isinstance(build_run_info.value, BuildRunError)
    built = client.build(python_build("print('y')"))
    with pytest.raises(InvalidEnvVars) as run_info:
        client.run(built.program_id, RunRequest(env_vars=underscore))
    assert isinstance(run_info.value, RunError)
    body, message = sandkasten_body(run_info.value)
    assert body == {"error": "invalid_env_vars"}
    assert "`_`" in message


def test_compile_limits_exceeded(client: SandkastenClient) -> None:
    request = python_build(f"# {unique()}", compile_limits=LimitsOpt(time=31, memory=4096, network=True))
    with pytest.raises(CompileLimitsExceeded) as info:
        client.build(request)
    assert isinstance(info.value, BuildError)
    assert exceeded(info.value) == [("time", 30), ("memory", 1024), ("network", 0)]
    with pytest.raises(CompileLimitsExceeded) as info2:
        client.build_and_run(BuildRunRequest(build=request))
    assert isinstance(info2.value, BuildRunError)
    assert exceeded(info2.value) == [("time", 30), ("memory", 1024), ("network", 0)]


def test_run_limits_exceeded(client: SandkastenClient) -> None:
    limits = LimitsOpt(cpus=2, stdout_max_size=10**6)
    with pytest.raises(RunLimitsExceeded) as info:
        client.build_and_run(BuildRunRequest(build=python_build(f"# {unique()}"), run=RunRequest(run_limits=limits)))
    assert isinstance(info.value, BuildRunError)
    assert exceeded(info.value) == [("cpus", 1), ("stdout_max_size", 65536)]
    # Checked before the program is looked up.
    with pytest.raises(RunLimitsExceeded) as info2:
        client.run(uuid.uuid4(), RunRequest(run_limits=limits))
    assert isinstance(info2.value, RunError)
    assert exceeded(info2.value) == [("cpus", 1), ("stdout_max_size", 65536)]


def test_program_not_found(client: SandkastenClient) -> None:
    program_id = str(uuid.uuid4())
    with pytest.raises(ProgramNotFound) as info:
        client.run(program_id)
    assert isinstance(info.value, RunError)
    assert info.value.status_code == 404
    body, message = sandkasten_body(info.value)
    assert body == {"error": "program_not_found"}
    assert f"`{program_id}`" in message


def test_compile_args_and_the_build_output(client: SandkastenClient) -> None:
    """Build C to WebAssembly with compile_args, list the build output, download a file."""
    code = f"int add(int a, int b) {{ return a + b; }}\nint main(void) {{ return 0; }}\n// {uuid.uuid4()}\n"
    built = client.build(BuildRequest(environment="emcc", main_file=MainFile(name="main.c", content=code),
                                      compile_args=["-O1", "-sEXPORTED_FUNCTIONS=_main,_add"]))
    artifacts = {a.name: a for a in client.list_artifacts(built.program_id)}
    assert set(artifacts) == {"app.js", "app.wasm"}
    assert artifacts["app.wasm"].content_type == "application/wasm"
    wasm = client.download_artifact(built.program_id, "app.wasm")
    assert wasm[:4] == b"\0asm" and len(wasm) == artifacts["app.wasm"].size
    assert hashlib.sha256(wasm).hexdigest() == artifacts["app.wasm"].sha256
    assert b"_add" in client.download_artifact(built.program_id, "app.js")
    with pytest.raises(ArtifactNotFound) as missing:
        client.download_artifact(built.program_id, "app.data")
    assert isinstance(missing.value, ArtifactsError) and "app.wasm" in (missing.value.message or "")
    with pytest.raises(ProgramNotFound):
        client.list_artifacts(uuid.uuid4())
    with pytest.raises(InvalidCompileArgs) as refused:
        client.run_code("emcc", code, main_file_name="main.c", compile_args=["-o", "/tmp/x.js"])
    assert refused.value.refused == ["-o", "/tmp/x.js"] and isinstance(refused.value, BuildRunError)


def test_unprocessable_content(client: SandkastenClient) -> None:
    """Request Structs are not validated when built; the server's 422 comes back typed."""
    with pytest.raises(UnprocessableContent) as info:
        client.build(python_build("pass", compile_limits=LimitsOpt(time=0)))
    assert isinstance(info.value, GeneralError)
    assert info.value.status_code == 422
    assert info.value.reason
    with pytest.raises(UnprocessableContent):
        client.run("not-a-uuid")


def test_a_closed_port_raises_the_transport_error() -> None:
    with SandkastenClient(f"http://127.0.0.1:{conftest.free_port()}", timeout=5) as sandkasten:
        with pytest.raises(TransportError) as info:
            sandkasten.get_config()
    assert isinstance(info.value, SandkastenError)
    assert not isinstance(info.value, InvalidResponse)


def test_a_wrong_base_path_raises_not_found(daemon: Daemon) -> None:
    """A wrong prefix reaches no endpoint: the daemon answers 404 `not_found` in its error
    envelope (it used to be plain text, an InvalidResponse), which the client raises as the
    general error NotFound; not a transport failure. (Non-JSON error bodies, from something that
    is not a sandkasten server, are InvalidResponse: tests/unit/test_client.py.)"""
    with SandkastenClient(daemon.url + "/not/the/api/") as sandkasten:
        with pytest.raises(NotFound) as info:
            sandkasten.get_config()
    assert isinstance(info.value, GeneralError)
    assert not isinstance(info.value, TransportError)
    assert info.value.status_code == 404
    assert info.value.error == "not_found"
    body, message = sandkasten_body(info.value)
    assert body == {"error": "not_found"}
    assert "/not/the/api/config" in message


def test_a_closed_client_refuses_requests(daemon: Daemon) -> None:
    sandkasten = SandkastenClient(daemon.url)
    assert sandkasten.get_config().program_ttl == 600
    sandkasten.close()
    with pytest.raises(RuntimeError):
        sandkasten.get_config()


def test_batches_of_test_cases(client: SandkastenClient) -> None:
    adder = MainFile(content="print(sum(map(int, input().split())))")
    built = client.build(BuildRequest(environment="python", main_file=adder))
    cases = BatchRequest(runs=[BatchRun(stdin="1 2", expected_stdout="3"), BatchRun(stdin="2 2", expected_stdout="5")])
    done = client.batch(built.program_id, cases)
    assert [item.passed for item in done.results] == [True, False]
    assert (done.summary.passed, done.summary.failed) == (1, 1)
    both = client.build_and_batch(BuildBatchRequest(
        build=BuildRequest(environment="python", main_file=MainFile(content="print(input())")),
        batch=BatchRequest(runs=[BatchRun(stdin="same")], count=3)))
    assert both.batch.summary.runs == 3 and both.batch.summary.outputs_agree
    with pytest.raises(RunLimitsExceeded):
        client.batch(built.program_id, BatchRequest(runs=[BatchRun(run_limits=LimitsOpt(time=10**6))]))
