"""Any byte sequence as a request body gets an answer in the error envelope, never a 500.

Hypothesis sends raw bodies (not JSON built by a library) to the three endpoints that take one,
with `Content-Type: application/json`: random bytes; real requests with invalid UTF-8 spliced in
anywhere (in a key, in `environment`, in `content`); JSON nested up to 100,000 levels, closed or
not; numbers far beyond any integer type, negative, fractional or in exponent form, where limits
go; duplicate keys; and real requests cut off at any byte. Each answer must be 2xx (a request
that happens to be valid) or 4xx with `{"error": ...}`; the daemon must still answer afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.sandbox

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PATHS = ["/programs", "/run", "/programs/00000000-0000-0000-0000-000000000000/run"]
BUILD = {"environment": "python", "main_file": {"content": "print(1)"}}
BODIES = {
    "/programs": json.dumps(BUILD).encode(),
    "/run": json.dumps({"build": BUILD, "run": {"stdin": "x"}}).encode(),
    PATHS[2]: json.dumps({"stdin": "x", "args": ["a"]}).encode(),
}
INVALID_UTF8 = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc0\xaf"]


def post(daemon: Any, path: str, body: bytes) -> requests.Response:
    return requests.post(daemon.url + path, data=body, timeout=60,
                         headers={"Content-Type": "application/json"})


def check(daemon: Any, path: str, body: bytes) -> None:
    response = post(daemon, path, body)
    assert response.status_code < 500, (path, body[:200], response.status_code, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json().get("error"), str), response.text


def spliced(base: bytes) -> st.SearchStrategy[bytes]:
    """`base` with an invalid UTF-8 sequence put in at any position."""
    return st.tuples(st.integers(0, len(base)), st.sampled_from(INVALID_UTF8)).map(
        lambda t: base[:t[0]] + t[1] + base[t[0]:])


def nested(depth: int, closed: bool, opener: str) -> bytes:
    """A build request with an unknown field holding objects or arrays `depth` levels deep."""
    inner = ('{"a":' * depth + "1" + "}" * depth) if opener == "{" else ("[" * depth + "]" * depth)
    if not closed:
        inner = inner[: len(inner) // 2]
    return ('{"environment": "python", "main_file": {"content": "x"}, "extra": ' + inner + "}").encode()


NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(1, 5000).map(lambda n: "9" * n),
    st.sampled_from(["1e999", "-1e999", "1.5", "-0", "0.0", "1E2", "18446744073709551616",
                     "-9223372036854775809", "NaN", "Infinity", "01", "1e-999"]),
)


def with_number(number: str) -> bytes:
    return ('{"environment": "python", "main_file": {"content": "x"}, '
            f'"compile_limits": {{"time": {number}, "memory": {number}}}}}').encode()


@given(path=st.sampled_from(PATHS), body=st.binary(max_size=2000))
@SETTINGS
@example(path="/programs", body=b"\xff\xfe{}")
@example(path="/run", body=b"")
def test_random_bytes(daemon: Any, path: str, body: bytes) -> None:
    check(daemon, path, body)


@given(data=st.data(), path=st.sampled_from(PATHS))
@SETTINGS
@example(data=None, path="/programs")
def test_invalid_utf8_anywhere_in_a_real_request(daemon: Any, data: Any, path: str) -> None:
    if data is None:  # the reported case: a bad byte in `content` and in `environment`
        check(daemon, "/programs", b'{"environment": "python", "main_file": {"content": "\xc3("}}')
        check(daemon, "/programs", b'{"environment": "pyt\xffhon", "main_file": {"content": "x"}}')
        return
    check(daemon, path, data.draw(spliced(BODIES[path])))


@given(depth=st.integers(1, 100_000), closed=st.booleans(), opener=st.sampled_from("[{"),
       path=st.sampled_from(PATHS[:2]))
@SETTINGS
@example(depth=2000, closed=True, opener="[", path="/programs")
@example(depth=100_000, closed=True, opener="{", path="/run")
@example(depth=100_000, closed=False, opener="[", path="/programs")
def test_deep_nesting(daemon: Any, depth: int, closed: bool, opener: str, path: str) -> None:
    body = nested(depth, closed, opener)
    if path == "/run":
        body = b'{"build": ' + body + b"}"
    check(daemon, path, body)


@given(number=NUMBERS)
@SETTINGS
def test_huge_and_odd_numbers(daemon: Any, number: str) -> None:
    check(daemon, "/programs", with_number(number))


@given(path=st.sampled_from(PATHS), data=st.data())
@SETTINGS
def test_duplicate_keys_and_truncation(daemon: Any, path: str, data: Any) -> None:
    body = BODIES[path]
    duplicated = body[:-1] + b', ' + body[1:]  # every key twice
    check(daemon, path, duplicated)
    check(daemon, path, body[: data.draw(st.integers(0, len(body) - 1))])


def test_the_daemon_still_answers(daemon: Any) -> None:
    assert daemon.get("/config").status_code == 200
    assert post(daemon, "/programs", BODIES["/programs"]).status_code == 201
