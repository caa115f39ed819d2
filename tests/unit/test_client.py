"""Tests of the pure parts of the client (sandkasten_py.client): URLs, response and error parsing.

Bodies are literal JSON bytes, as the server sends them. Talking to a daemon is left to the
end-to-end tests.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from sandkasten_py import client
from sandkasten_py.client import (
    ArtifactNotFound, ArtifactsError, Busy, InvalidCompileArgs, BuildError, BuildRunError, CompileError, CompileLimitsExceeded, EnvironmentNotFound,
    ErrorResponse, GeneralError, GetBaseResourceUsageError, InternalServerError, InvalidEnvVars,
    InvalidFileNames, InvalidResponse, LimitsExceeded, ProgramNotFound, RunError,
    RunLimitsExceeded, SandkastenClient, SandkastenError, TransportError, UnexpectedError,
    UnprocessableContent, error_from_response, parse_response,
)
from sandkasten_py.schemas import (
    BuildResult, BuildRunResult, Environment, LimitExceeded, PublicConfig, RunResult,
)

LIMITS = (b'{"cpus":1,"time":5,"memory":256,"tmpfs":256,"filesize":16,"file_descriptors":256,'
          b'"processes":64,"stdout_max_size":65536,"stderr_max_size":65536,"network":false}')
RUN_RESULT = (b'{"status":1,"stdout":"","stderr":"error[E0425]: cannot find value `x`\\n",'
              b'"resource_usage":{"time":120,"memory":4096},"limits":' + LIMITS + b'}')

FAMILIES = (GetBaseResourceUsageError, BuildRunError, BuildError, RunError, ArtifactsError)

# wire name -> (class, the families it belongs to), as listed in the reference (§1.6, §8)
WIRE_ERRORS: dict[str, tuple[type[ErrorResponse], set[type[ErrorResponse]]]] = {
    "environment_not_found": (EnvironmentNotFound,
                              {GetBaseResourceUsageError, BuildRunError, BuildError}),
    "compile_error": (CompileError, {BuildRunError, BuildError}),
    "invalid_file_names": (InvalidFileNames, {BuildRunError, BuildError, RunError}),
    "invalid_env_vars": (InvalidEnvVars, {BuildRunError, BuildError, RunError}),
    "compile_limits_exceeded": (CompileLimitsExceeded, {BuildRunError, BuildError}),
    "run_limits_exceeded": (RunLimitsExceeded, {BuildRunError, RunError}),
    "program_not_found": (ProgramNotFound, {RunError, ArtifactsError}),
    "invalid_compile_args": (InvalidCompileArgs, {BuildRunError, BuildError}),
    "busy": (Busy, {BuildRunError, BuildError, RunError}),
    "artifact_not_found": (ArtifactNotFound, {ArtifactsError}),
}


# ------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(("base_url", "normalised"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/"),
    ("https://example.org/sandkasten", "https://example.org/sandkasten/"),
    ("https://example.org/sandkasten/", "https://example.org/sandkasten/"),
    ("https://example.org/a/b", "https://example.org/a/b/"),
])
def test_base_url_gets_a_trailing_slash(base_url: str, normalised: str) -> None:
    with SandkastenClient(base_url) as sandkasten:
        assert sandkasten.base_url == normalised


@pytest.mark.parametrize("base_url", [
    "127.0.0.1:8000", "localhost", "/relative", "ftp://example.org/", "http://",
    "http://example.org/?token=1", "http://example.org/#top",
])
def test_bad_base_url_fails_at_construction(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        SandkastenClient(base_url)


@pytest.mark.parametrize(("base_url", "segments", "url"), [
    ("http://h:8000", ("config",), "http://h:8000/config"),
    ("http://h/prefix", ("openapi.json",), "http://h/prefix/openapi.json"),
    ("http://h/prefix/", ("environments", "python", "resource_usage"),
     "http://h/prefix/environments/python/resource_usage"),
    ("http://h/", ("programs", "0f9b5f4c-52b3-4d4e-8a43-7b7a8d0c1e2f", "run"),
     "http://h/programs/0f9b5f4c-52b3-4d4e-8a43-7b7a8d0c1e2f/run"),
])
def test_url_for_joins_like_the_original(base_url: str, segments: tuple[str, ...], url: str) -> None:
    assert SandkastenClient(base_url).url_for(*segments) == url


@pytest.mark.parametrize(("environment", "encoded"), [
    ("a/b", "a%2Fb"),
    ("a b?c#d", "a%20b%3Fc%23d"),
    ("http:x", "http%3Ax"),
    ("ü", "%C3%BC"),
    ("%2F", "%252F"),
    # Dot segments would be resolved away by urljoin and hit another endpoint.
    ("..", "%2E%2E"),
    (".", "%2E"),
    ("a.b", "a.b"),
])
def test_url_for_percent_encodes_segments(environment: str, encoded: str) -> None:
    url = SandkastenClient("http://h/p").url_for("environments", environment, "resource_usage")
    assert url == f"http://h/p/environments/{encoded}/resource_usage"


# ------------------------------------------------------------------------ ok responses


def test_2xx_is_parsed_as_the_ok_type() -> None:
    body = (b'{"program_ttl":600,"max_concurrent_jobs":16,"compile_limits":' + LIMITS
            + b',"run_limits":' + LIMITS + b',"base_resource_usage_runs":20}')
    config = parse_response(200, body, PublicConfig)
    assert config.program_ttl == 600
    assert config.run_limits.processes == 64


def test_201_of_build_is_ok() -> None:
    body = (b'{"program_id":"0f9b5f4c-52b3-4d4e-8a43-7b7a8d0c1e2f","ttl":600,"cached":false,'
            b'"compile_result":null}')
    result = parse_response(201, body, BuildResult, BuildError)
    assert result.compile_result is None
    assert uuid.UUID(result.program_id)


def test_environments_map_and_unknown_fields() -> None:
    body = (b'{"python":{"name":"Python","version":"3.11.2","default_main_file_name":"code.py",'
            b'"example":null,"meta":{"homepage":"https://www.python.org/"},"new_field":1}}')
    environments = parse_response(200, body, dict[str, Environment])
    assert environments["python"].default_main_file_name == "code.py"
    assert environments["python"].meta == {"homepage": "https://www.python.org/"}


def test_build_run_result_the_readme_example() -> None:
    body = (b'{"program_id":"0f9b5f4c-52b3-4d4e-8a43-7b7a8d0c1e2f","ttl":600,"cached":true,'
            b'"build":null,"run":{"status":0,"stdout":"42","stderr":"",'
            b'"resource_usage":{"time":30,"memory":9000},"limits":' + LIMITS + b'}}')
    result = parse_response(200, body, BuildRunResult, BuildRunError)
    assert result.run.stdout == "42"
    assert result.run.exceeded == []


@pytest.mark.parametrize("body", [b"", b"<html>", b"null", b'{"program_ttl":"600"}'])
def test_2xx_with_a_body_of_the_wrong_shape_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidResponse) as info:
        parse_response(200, body, PublicConfig)
    assert info.value.status_code == 200
    assert info.value.content == body
    assert isinstance(info.value, TransportError)


# --------------------------------------------------------------------- error responses


def test_compile_error_carries_the_run_result() -> None:
    content = b'{"error":"compile_error","details":' + RUN_RESULT + b"}"
    with pytest.raises(CompileError) as info:
        parse_response(400, content, BuildRunResult, BuildRunError)
    error = info.value
    assert isinstance(error.result, RunResult)
    assert error.result.status == 1
    assert error.result.resource_usage.cpu_time == 0  # ours; absent in the original's bodies
    assert error.status_code == 400
    assert error.error == "compile_error"
    assert error.body["details"]["stderr"].startswith("error[E0425]")
    assert "compile_error (HTTP 400): exit status 1" in str(error)
    assert "E0425" in str(error)


def test_the_same_error_is_caught_by_its_family() -> None:
    content = b'{"error":"compile_error","details":' + RUN_RESULT + b"}"
    for family in (BuildError, BuildRunError):
        with pytest.raises(family):
            parse_response(400, content, BuildResult, family)


@pytest.mark.parametrize(("name", "cls"), [
    ("compile_limits_exceeded", CompileLimitsExceeded), ("run_limits_exceeded", RunLimitsExceeded),
])
def test_limits_exceeded_lists_every_limit(name: str, cls: type[LimitsExceeded]) -> None:
    content = (b'{"error":"' + name.encode() + b'","details":'
               b'[{"name":"time","max_value":5},{"name":"network","max_value":0}]}')
    error = error_from_response(400, content, BuildRunError)
    assert type(error) is cls
    assert isinstance(error, LimitsExceeded)
    assert error.exceeded == [LimitExceeded("time", 5), LimitExceeded("network", 0)]
    assert str(error) == f"{name} (HTTP 400): time (max 5), network (max 0)"


@pytest.mark.parametrize("family", [None, *FAMILIES])
def test_general_errors_come_from_every_endpoint(family: type[ErrorResponse] | None) -> None:
    reason = "parse request payload error: expected value at line 1 column 1"
    content = b'{"error":"unprocessable_content","reason":"' + reason.encode() + b'"}'
    unprocessable = error_from_response(422, content, family)
    assert isinstance(unprocessable, UnprocessableContent)
    assert isinstance(unprocessable, GeneralError)
    assert unprocessable.reason == reason
    assert str(unprocessable) == f"unprocessable_content (HTTP 422): {reason}"

    internal = error_from_response(500, b'{"error":"internal_server_error"}', family)
    assert isinstance(internal, InternalServerError)
    assert internal.body == {"error": "internal_server_error"}
    assert not isinstance(internal, FAMILIES)


def test_errors_without_details() -> None:
    error = error_from_response(404, b'{"error":"program_not_found"}', RunError)
    assert isinstance(error, ProgramNotFound)
    assert error.status_code == 404
    assert str(error) == "program_not_found (HTTP 404)"


@pytest.mark.parametrize(("content", "family"), [
    (b'{"error":"i_am_a_teapot","details":{"x":1}}', BuildError),  # unknown anywhere
    (b'{"error":"program_not_found"}', BuildError),  # known, but not from this endpoint
    (b'{"error":"run_limits_exceeded","details":[]}', BuildError),
    (b'{"error":"environment_not_found"}', None),  # endpoints without errors of their own
    (b'{"error":"compile_error","details":"not a RunResult"}', RunError),
])
def test_undeclared_error_names_are_unexpected(
    content: bytes, family: type[ErrorResponse] | None
) -> None:
    error = error_from_response(400, content, family)
    assert type(error) is UnexpectedError
    assert error.status_code == 400
    assert error.body == json.loads(content)
    assert family is None or not isinstance(error, family)


@pytest.mark.parametrize(("status", "content"), [
    (404, b"Not Found"),  # a wrong base URL or path prefix
    (415, b"the `Content-Type` requested by the client is not supported"),
    (502, b"<html><body>Bad Gateway</body></html>"),
    (500, b""),
    (400, b'["compile_error"]'),
    (400, b'{"details":[]}'),  # no error name
    (400, b'{"error":42}'),
    (400, b'{"error":"compile_error"}'),  # details missing
    (400, b'{"error":"compile_error","details":{"status":1}}'),  # details incomplete
    (400, b'{"error":"run_limits_exceeded","details":[{"name":"time","max_value":-1}]}'),
])
def test_bodies_that_are_not_envelopes_are_invalid(status: int, content: bytes) -> None:
    with pytest.raises(InvalidResponse) as info:
        parse_response(status, content, BuildRunResult, BuildRunError)
    assert info.value.status_code == status
    assert info.value.content == content


# ------------------------------------------------------------------- the error tables


@pytest.mark.parametrize("name", sorted(WIRE_ERRORS))
def test_one_class_per_wire_name_in_exactly_its_families(name: str) -> None:
    cls, families = WIRE_ERRORS[name]
    assert cls.wire_name == name
    assert {family for family in FAMILIES if issubclass(cls, family)} == families
    assert issubclass(cls, ErrorResponse) and not issubclass(cls, GeneralError)
    content = b'{"error":"' + name.encode() + b'"}'
    if cls is CompileError:
        content = b'{"error":"compile_error","details":' + RUN_RESULT + b"}"
    elif issubclass(cls, LimitsExceeded):
        content = content[:-1] + b',"details":[]}'
    elif cls is InvalidCompileArgs:
        content = content[:-1] + b',"details":["-o","x.js"]}'
    for family in FAMILIES:
        error = error_from_response(400, content, family)
        assert type(error) is (cls if family in families else UnexpectedError)


def test_invalid_compile_args_carries_the_refused_arguments() -> None:
    error = error_from_response(400, b'{"error":"invalid_compile_args","details":["-o","x.js"],'
                                     b'"message":"compile_args refused: `-o x.js`: ..."}', BuildError)
    assert isinstance(error, InvalidCompileArgs) and error.refused == ["-o", "x.js"]
    assert error.message == "compile_args refused: `-o x.js`: ..."


def test_the_tree() -> None:
    assert issubclass(TransportError, SandkastenError)
    assert issubclass(InvalidResponse, TransportError)
    assert issubclass(ErrorResponse, SandkastenError)
    assert not issubclass(ErrorResponse, TransportError)
    for cls in (UnprocessableContent, InternalServerError):
        assert issubclass(cls, GeneralError)
    assert issubclass(CompileLimitsExceeded, LimitsExceeded)
    assert issubclass(RunLimitsExceeded, LimitsExceeded)


def test_exported_names_exist() -> None:
    assert len(set(client.__all__)) == len(client.__all__)
    for name in client.__all__:
        assert hasattr(client, name), name


# ------------------------------------------------------------------------ lifecycle


class _RecordingSession(requests.Session):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_context_manager_closes_only_its_own_session() -> None:
    session = _RecordingSession()
    with SandkastenClient("http://h", session=session):
        pass
    assert not session.closed
    session.close()


def test_a_closed_client_refuses_requests() -> None:
    sandkasten = SandkastenClient("http://127.0.0.1:1")
    sandkasten.close()
    sandkasten.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        sandkasten.get_config()


def test_run_code_refuses_a_str_as_args() -> None:
    with SandkastenClient("http://127.0.0.1:1") as sandkasten, pytest.raises(TypeError):
        sandkasten.run_code("python", "print(1)", args="-v")
