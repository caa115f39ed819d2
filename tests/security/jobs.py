"""What the security tests share: send a program through POST /run, read what it printed,
read an error response, find a job's processes on the host."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests


def run(daemon: Any, environment: str, code: str, session: requests.Session | None = None,
        **run_: Any) -> dict[str, Any]:
    """POST /run and return the run result; the build must succeed. Over `session` if given."""
    body = {"build": {"environment": environment, "main_file": {"content": code}}, "run": run_}
    if session is None:
        response = daemon.post("/run", json=body)
    else:
        response = session.post(daemon.url + "/run", json=body, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["build"] is None or answer["build"]["status"] == 0, answer["build"]
    result: dict[str, Any] = answer["run"]
    return result


def error_parts(response: requests.Response) -> tuple[int, Any, str]:
    """(status, body, message) of an error response: the body as Sandkasten's clients see it
    (JSON, without our additive `message`), and that message ("" where there is none; where
    there is one, it must be non-empty text)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    body = response.json()
    message = ""
    if isinstance(body, dict) and "message" in body:
        body = dict(body)
        message = body.pop("message")
        assert isinstance(message, str) and message, response.text
    return response.status_code, body, message


def expect_error(response: requests.Response, status: int, body: Any) -> str:
    """The response is this exact Sandkasten error, besides our additive `message` (non-empty
    text where there is one); returns the message ("" where there is none)."""
    got_status, got_body, message = error_parts(response)
    assert (got_status, got_body) == (status, body), response.text
    return message


def json_stdout(result: dict[str, Any]) -> Any:
    """The JSON a program printed; it must have exited 0."""
    assert result["status"] == 0, result
    return json.loads(result["stdout"])


def clean_json_stdout(result: dict[str, Any]) -> Any:
    """The JSON a program printed; it must have exited 0 without running into any limit."""
    assert (result["status"], result["exceeded"]) == (0, []), result
    return json.loads(result["stdout"])


def host_processes_with(marker: str) -> list[int]:
    """Pids of host processes whose command line contains `marker`."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def host_process_with_argv0(marker: str, still_running: Callable[[], bool],
                            deadline_s: float = 10) -> int:
    """Poll the host's /proc until a process whose argv[0] is `marker` shows up; return its pid."""
    deadline = time.monotonic() + deadline_s
    needle = marker.encode()
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if argv0 == needle:
                return int(entry.name)
        assert still_running(), "the job ended before its process was seen on the host"
        time.sleep(0.01)  # poll interval, not a wait for a fixed time
    raise AssertionError(f"no host process with argv[0] {marker!r} within {deadline_s} s")
