"""What the security tests share: send a program through POST /run and read what it printed."""

from __future__ import annotations

import json
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


def json_stdout(result: dict[str, Any]) -> Any:
    """The JSON a program printed; it must have exited 0."""
    assert result["status"] == 0, result
    return json.loads(result["stdout"])


def clean_json_stdout(result: dict[str, Any]) -> Any:
    """The JSON a program printed; it must have exited 0 without running into any limit."""
    assert (result["status"], result["exceeded"]) == (0, []), result
    return json.loads(result["stdout"])
