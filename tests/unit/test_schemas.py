"""Unit tests of the wire format (sandkasten_py.schemas).

Requests are decoded exactly as the server decodes them, with ``msgspec.json.decode(..., type=...)``
on literal JSON, because compatibility with Sandkasten's request parsing (§1.3-1.4 of the
reference) is decided at that level: missing vs null, whole-string patterns, lengths in
characters, unsigned 64-bit integers.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from sandkasten_py.api.errors import UnprocessableContent
from sandkasten_py.api.request_limits import check_request
from sandkasten_py.schemas import (
    LIMIT_NAMES,
    BenchmarkResult,
    BuildRequest,
    BuildResult,
    BuildRunRequest,
    EnvVar,
    File,
    Limits,
    LimitsOpt,
    MainFile,
    PublicConfig,
    RequestLimits,
    ResourceUsage,
    RunRequest,
    RunResult,
)

U64_MAX = 2**64 - 1


def decode(value: Any, type_: type) -> Any:
    """Decode a Python value, serialised to JSON first, as the server would."""
    return msgspec.json.decode(json.dumps(value).encode(), type=type_)


def rejects(value: Any, type_: type) -> bool:
    """Whether the daemon refuses `value` as `type_`: in decoding (the shape), or, for whole
    requests, in the check of the default `request_limits` (sizes and counts) that follows it."""
    try:
        decoded = decode(value, type_)
    except msgspec.ValidationError:
        return True
    try:
        check_request(decoded, RequestLimits())
    except UnprocessableContent:
        return True
    return False


def build(**fields: Any) -> dict[str, Any]:
    """A minimal valid BuildRequest body with some fields replaced."""
    body: dict[str, Any] = {"environment": "python", "main_file": {"content": "print(1)"}}
    body.update(fields)
    return body


# ------------------------------------------------------------------ missing vs null


@pytest.mark.parametrize(
    ("type_", "body", "field"),
    [
        (MainFile, {"content": ""}, "name"),
        (BuildRequest, build(), "files"),
        (BuildRequest, build(), "env_vars"),
        (BuildRequest, build(), "compile_limits"),
        (RunRequest, {}, "stdin"),
        (RunRequest, {}, "args"),
        (RunRequest, {}, "files"),
        (RunRequest, {}, "env_vars"),
        (RunRequest, {}, "run_limits"),
        (BuildRunRequest, {"build": build()}, "run"),
        *((LimitsOpt, {}, name) for name in LIMIT_NAMES),
    ],
)
def test_defaulted_field_missing_and_null_both_decode_to_none(
    type_: type, body: dict[str, Any], field: str
) -> None:
    """The Rust client sends `null` for every unset field; the server must read it as "missing"."""
    missing = decode(body, type_)
    explicit_null = decode({**body, field: None}, type_)
    assert getattr(missing, field) is None
    assert getattr(explicit_null, field) is None


def test_rust_client_style_body_with_all_nulls_decodes() -> None:
    """A body like the Rust client's, with every optional field present as null, is accepted."""
    body = {
        "build": {
            "environment": "python",
            "main_file": {"name": None, "content": "x"},
            "files": None,
            "env_vars": None,
            "compile_limits": {name: None for name in LIMIT_NAMES},
        },
        "run": {"stdin": None, "args": None, "files": None, "env_vars": None,
                "run_limits": {name: None for name in LIMIT_NAMES}},
    }
    request = decode(body, BuildRunRequest)
    assert request.build.compile_limits == LimitsOpt()
    assert request.run is not None and request.run.run_limits == LimitsOpt()


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        (MainFile, {"content": "", "unknown": 1}),
        (File, {"name": "a", "content": "", "mode": 493}),
        (EnvVar, {"name": "A", "value": "", "secret": True}),
        (LimitsOpt, {"time": 1, "wall_time": 5}),
        (BuildRequest, build(extra={"nested": [1, 2]})),
        (RunRequest, {"timeout": 3}),
        (BuildRunRequest, {"build": build(), "other": None}),
    ],
)
def test_unknown_fields_are_ignored(type_: type, body: dict[str, Any]) -> None:
    """Sandkasten does not deny unknown fields; newer clients must keep working."""
    decode(body, type_)


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        (BuildRequest, {"main_file": {"content": ""}}),
        (BuildRequest, {"environment": "python"}),
        (BuildRequest, build(environment=None)),
        (BuildRequest, build(main_file=None)),
        (MainFile, {"name": "a"}),
        (File, {"name": "a"}),
        (File, {"content": ""}),
        (EnvVar, {"name": "A"}),
        (EnvVar, {"value": ""}),
        (BuildRunRequest, {}),
        (BuildRunRequest, {"build": None}),
        (BuildRunRequest, {"run": {}}),
    ],
)
def test_required_fields_cannot_be_missing_or_null(type_: type, body: dict[str, Any]) -> None:
    """Fields without a default in the original (for example `BuildRunRequest.build`) are required."""
    assert rejects(body, type_)


def test_build_run_request_run_may_be_missing_or_null_or_empty() -> None:
    """`run` defaults to an all-default RunRequest; an empty object is a RunRequest of Nones."""
    assert decode({"build": build()}, BuildRunRequest).run is None
    assert decode({"build": build(), "run": None}, BuildRunRequest).run is None
    assert decode({"build": build(), "run": {}}, BuildRunRequest).run == RunRequest()


# ------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("code.py", True),
        ("a", True),
        ("a" * 32, True),
        ("A-Z_0.9", True),
        (".", True),  # only-dots names are refused later (invalid_file_names), not by the schema
        ("a" * 33, False),
        ("", False),
        ("code.py\n", False),  # `$` must not match before a final newline
        ("\ncode.py", False),
        ("code py", False),
        ("ä.py", False),
        ("dir/code.py", False),
        ("code.py\x00", False),
    ],
)
@pytest.mark.parametrize("type_", [File, MainFile])
def test_file_name_pattern_matches_whole_string(type_: type, name: str, ok: bool) -> None:
    """`^[a-zA-Z0-9._-]{1,32}$` anchors the whole name, as the Rust regex crate does."""
    assert rejects({"name": name, "content": ""}, type_) is not ok


# ------------------------------------------------------------------ env vars


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("A", True),
        ("_", True),  # refused later by check_env_vars, not by the schema
        ("1LEADING_DIGIT", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("A\n", False),
        ("A-B", False),
        ("A.B", False),
        ("Ä", False),
        ("A=B", False),
    ],
)
def test_env_var_name_pattern(name: str, ok: bool) -> None:
    """Names follow `^[a-zA-Z0-9_]{1,64}$` over the whole string."""
    assert rejects({"name": name, "value": ""}, EnvVar) is not ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("a" * 256, True),
        ("ä" * 256, True),  # 512 bytes in UTF-8 but 256 characters
        ("😀" * 256, True),  # 4-byte characters
        ("a" * 257, False),
        ("ä" * 257, False),
        ("a\x00b", False),
        ("\x00", False),
        ("line1\nline2\n", True),
        ("\n", True),
        ("with = and spaces", True),
    ],
)
def test_env_var_value_length_in_characters_and_no_nul(value: str, ok: bool) -> None:
    """Values are at most 256 characters (not bytes) and may contain anything but NUL."""
    assert rejects({"env_vars": [{"name": "A", "value": value}]}, RunRequest) is not ok


# ------------------------------------------------------------------ args, lists, contents


@pytest.mark.parametrize(
    ("args", "ok"),
    [
        ([], True),
        (["a" * 4096], True),
        (["ä" * 4096], True),
        (["a" * 4097], False),
        (["x"] * 100, True),
        (["x"] * 101, False),
        (["a\x00"], False),
        (["multi\nline"], True),
        ([""], True),
    ],
)
def test_run_args_limits(args: list[str], ok: bool) -> None:
    """At most 100 arguments of at most 4096 characters each, without NUL."""
    assert rejects({"args": args}, RunRequest) is not ok


def _files(n: int) -> list[dict[str, str]]:
    return [{"name": f"f{i}", "content": ""} for i in range(n)]


def _vars(n: int) -> list[dict[str, str]]:
    return [{"name": f"V{i}", "value": ""} for i in range(n)]


@pytest.mark.parametrize(
    ("type_", "make_body", "field", "limit", "item"),
    [
        (BuildRequest, build, "files", 10, _files),
        (RunRequest, dict, "files", 10, _files),
        (BuildRequest, build, "env_vars", 16, _vars),
        (RunRequest, dict, "env_vars", 16, _vars),
    ],
)
def test_list_length_limits(type_: type, make_body: Any, field: str, limit: int, item: Any) -> None:
    """files: at most 10; env_vars: at most 16 (both in build and run requests)."""
    assert not rejects(make_body(**{field: item(limit)}), type_)
    assert rejects(make_body(**{field: item(limit + 1)}), type_)


@pytest.mark.parametrize(
    ("content", "ok"),
    [
        ("ä" * 65536, True),
        ("a" * 65536, True),
        ("a" * 65537, False),
        ("ä" * 65537, False),
    ],
)
@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda c: (BuildRequest, build(main_file={"content": c})), id="main_file"),
        pytest.param(lambda c: (RunRequest, {"files": [{"name": "f", "content": c}]}), id="file"),
        pytest.param(lambda c: (RunRequest, {"stdin": c}), id="stdin"),
    ],
)
def test_file_content_and_stdin_length_in_characters(wrap: Any, content: str, ok: bool) -> None:
    """Contents (and stdin) are limited to 65536 characters; multi-byte characters count once."""
    type_, body = wrap(content)
    assert rejects(body, type_) is not ok


# ------------------------------------------------------------------ LimitsOpt

POSITIVE = ("cpus", "time", "memory", "filesize", "file_descriptors", "processes")
ZERO_OK = ("tmpfs", "stdout_max_size", "stderr_max_size")


@pytest.mark.parametrize("name", POSITIVE)
def test_limits_opt_minimum_one(name: str) -> None:
    """nsjail reads 0 as "unlimited" for these, so 0 is refused (the "limit bypass" fix)."""
    assert rejects({name: 0}, LimitsOpt)
    assert getattr(decode({name: 1}, LimitsOpt), name) == 1


@pytest.mark.parametrize("name", ZERO_OK)
def test_limits_opt_zero_allowed(name: str) -> None:
    """0 is meaningful here (no /tmp, no output kept), so it is accepted."""
    assert getattr(decode({name: 0}, LimitsOpt), name) == 0


NUMERIC = POSITIVE + ZERO_OK


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("-1", False),
        (str(U64_MAX), True),
        (str(U64_MAX + 1), False),
        ("100000000000000000000000000000", False),
        ("1.0", False),
        ("1.5", False),
        ("1e3", False),
        ("true", False),
        ("false", False),
        ('"1"', False),
    ],
)
def test_limits_opt_numbers_are_u64(name: str, raw: str, ok: bool) -> None:
    """Limits are unsigned 64-bit integers: no negatives, no overflow, no floats, no booleans."""
    text = f'{{"{name}": {raw}}}'.encode()
    try:
        decoded = msgspec.json.decode(text, type=LimitsOpt)
    except msgspec.ValidationError:
        assert not ok
    else:
        assert ok
        assert getattr(decoded, name) == int(raw)


@pytest.mark.parametrize("raw", ["0", "1", '"true"', "1.0"])
def test_limits_opt_network_must_be_a_boolean(raw: str) -> None:
    """`network` is a bool; numbers or strings are not coerced."""
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(f'{{"network": {raw}}}'.encode(), type=LimitsOpt)


def test_limits_opt_overflow_is_rejected_when_nested_in_a_request() -> None:
    """The u64 check also applies inside a BuildRunRequest (where the server meets it)."""
    body = {"build": build(compile_limits={"memory": U64_MAX + 1})}
    assert rejects(body, BuildRunRequest)
    body = {"build": build(), "run": {"run_limits": {"stdout_max_size": U64_MAX + 1}}}
    assert rejects(body, BuildRunRequest)


# ------------------------------------------------------------------ responses

LIMITS = Limits(cpus=1, time=2, memory=3, tmpfs=4, filesize=5, file_descriptors=6, processes=7,
                stdout_max_size=8, stderr_max_size=9, network=False)

EXPECTED_LIMITS_ORDER = [
    "cpus", "time", "memory", "tmpfs", "filesize", "file_descriptors", "processes",
    "stdout_max_size", "stderr_max_size", "network",
]


def keys_in_order(value: Any) -> list[str]:
    """The keys of the encoded JSON object, in the order they appear."""
    return list(json.loads(msgspec.json.encode(value)))


def test_limits_encode_in_field_order() -> None:
    """Sandkasten serialises limits in exactly this order; clients and tests compare text."""
    assert keys_in_order(LIMITS) == EXPECTED_LIMITS_ORDER
    assert list(LIMIT_NAMES) == EXPECTED_LIMITS_ORDER
    assert msgspec.json.encode(LIMITS) == (
        b'{"cpus":1,"time":2,"memory":3,"tmpfs":4,"filesize":5,"file_descriptors":6,'
        b'"processes":7,"stdout_max_size":8,"stderr_max_size":9,"network":false}'
    )


def test_response_structs_keep_the_original_field_order() -> None:
    """Original fields come first, in the original's order; fields we added come last."""
    usage = ResourceUsage(time=1, memory=2)
    result = RunResult(status=0, stdout="", stderr="", resource_usage=usage, limits=LIMITS)
    assert keys_in_order(usage) == ["time", "memory", "cpu_time"]
    assert keys_in_order(result) == ["status", "stdout", "stderr", "resource_usage", "limits",
                                     "exceeded"]
    built = BuildResult(program_id="x", ttl=1, cached=False, compile_result=None)
    assert keys_in_order(built) == ["program_id", "ttl", "cached", "compile_result"]
    public = PublicConfig(program_ttl=1, max_concurrent_jobs=2, compile_limits=LIMITS,
                          run_limits=LIMITS, base_resource_usage_runs=3)
    assert keys_in_order(public) == ["program_ttl", "max_concurrent_jobs", "compile_limits",
                                     "run_limits", "base_resource_usage_runs", "request_limits"]
    assert keys_in_order(BenchmarkResult(min=1, avg=2, max=3)) == ["min", "avg", "max"]


def test_build_result_encodes_null_compile_result() -> None:
    """`compile_result` is always present, as `null` for environments without a compile step."""
    built = BuildResult(program_id="x", ttl=1, cached=True, compile_result=None)
    assert json.loads(msgspec.json.encode(built))["compile_result"] is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5], (5, 5, 5)),
        ([1, 2], (1, 1, 2)),  # mean 1.5 is floored
        ([1, 1, 2], (1, 1, 2)),  # mean 1.33
        ([2, 3, 3], (2, 2, 3)),  # mean 2.67 is floored, not rounded
        ([10, 0, 7], (0, 5, 10)),  # order of measurements does not matter
    ],
)
def test_benchmark_result_of_floors_the_mean(values: list[int], expected: tuple[int, int, int]) -> None:
    """`avg` is the integer (floor) mean, as in the original."""
    result = BenchmarkResult.of(values)
    assert (result.min, result.avg, result.max) == expected


@pytest.mark.parametrize("type_, make", [
    (MainFile, lambda encoding, content: {"content": content, "encoding": encoding}),
    (File, lambda encoding, content: {"name": "a.bin", "content": content, "encoding": encoding}),
])
@pytest.mark.parametrize("encoding, content, data", [
    (None, "héllo", "héllo".encode()),
    ("utf-8", "héllo", "héllo".encode()),
    ("base64", "AAEC/w==", b"\x00\x01\x02\xff"),
    ("base64", "", b""),
    ("base64", "AGFzbQEAAAA=", b"\0asm\x01\0\0\0"),
    ("base64", "AAEC/w", None),          # no padding
    ("base64", "AAEC/w==\n", None),      # a newline
    ("base64", "AA EC/w==", None),       # a space
    ("base64", "AAEC_w==", None),        # the URL-safe alphabet
    ("base64", "héllo", None),
    ("latin-1", "x", None),              # not an encoding we know
])
def test_file_encodings(type_: type, make: Any, encoding: str | None, content: str, data: bytes | None) -> None:
    """`encoding: "base64"` carries binary files; anything but strict standard base64 is a 422."""
    body = make(encoding, content)
    if data is None:
        assert rejects(body, type_)
        return
    assert decode(body, type_).data() == data
