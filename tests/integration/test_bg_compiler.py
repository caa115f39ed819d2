"""bg-compiler's API under /bg-compiler through the daemon: its request and answer as its README
gives them, images mapped to environments, repeated runs, compile errors, timeouts, and clear
errors for an unknown image or a bad request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox


def test_the_readme_example(daemon: Any) -> None:
    response = daemon.post("/bg-compiler/compile", json={
        "script": "print('hello, world!')", "image": "python:3.11.1-alpine3.17", "count": 1, "cmd": "python3"})
    assert response.status_code == 200, response.text
    [run] = response.json()
    assert run["stdout"] == "hello, world!\n" and run["stderr"] == "" and run["timed_out"] is False
    assert isinstance(run["duration_ms"], int) and run["duration_ms"] > 0


def test_count_runs_and_stdin(daemon: Any) -> None:
    response = daemon.post("/bg-compiler/compile", json={
        "script": "package main\nimport \"fmt\"\nfunc main() { var s string; fmt.Scan(&s); fmt.Println(\"go \" + s) }\n",
        "image": "docker.io/library/golang:1.21", "count": 3, "cmd": "go run", "extension": "go", "stdin": "in"})
    assert response.status_code == 200, response.text
    assert [run["stdout"] for run in response.json()] == ["go in\n"] * 3


def test_the_gcc_image_compiles_cpp_by_extension_and_reports_compile_errors(daemon: Any) -> None:
    cpp = daemon.post("/bg-compiler/compile", json={
        "script": "#include <iostream>\nint main() { std::cout << \"c++\" << std::endl; }\n",
        "image": "gcc:13", "extension": "cpp"})
    assert cpp.status_code == 200 and cpp.json()[0]["stdout"] == "c++\n", cpp.text
    broken = daemon.post("/bg-compiler/compile", json={"script": "int main( {", "image": "gcc", "count": 2})
    assert broken.status_code == 200, broken.text
    runs = broken.json()
    assert len(runs) == 2 and all(run["stdout"] == "" and "error" in run["stderr"] for run in runs)


def test_a_run_past_its_time_limit_timed_out(daemon_factory: Callable[..., Any]) -> None:
    quick = daemon_factory(RUN_LIMITS__TIME="1")
    response = quick.post("/bg-compiler/compile", json={"script": "while True: pass", "image": "python"})
    assert response.status_code == 200, response.text
    [run] = response.json()
    assert run["timed_out"] is True and 900 <= run["duration_ms"] < 5000


def test_an_unknown_image_and_a_bad_request_are_clear_400s(daemon: Any) -> None:
    unknown = daemon.post("/bg-compiler/compile", json={"script": "x", "image": "cobol-on-cogs:1"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_image", unknown.text
    assert "cobol-on-cogs" in unknown.json()["message"] and "python" in unknown.json()["message"]
    bad = daemon.post("/bg-compiler/compile", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request", bad.text
    zero = daemon.post("/bg-compiler/compile", json={"script": "print(1)", "image": "python", "count": 0})
    assert zero.status_code == 400
    too_many = daemon.post("/bg-compiler/compile", json={"script": "print(1)", "image": "python", "count": 5000})
    assert too_many.status_code == 400 and "batch_runs" in too_many.json()["message"], too_many.text
