"""The memory budget with real jobs: runs whose memory limits do not fit together take turns.

Each program prints when it starts and ends (wall clock, inside its jail); under a budget of
300 MB two runs of 256 MB never overlap, and the third, which waits too long, is refused with
503 and Retry-After. With room for both (600 MB), they do overlap, which shows that the
program can see an overlap when there is one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

PROGRAM = "import time\nstart = time.time()\ntime.sleep(1.5)\nprint(start, time.time())\n"


def run_both(daemon: Any) -> list[tuple[float, float]]:
    code = f"{PROGRAM}# {uuid.uuid4()}\n"
    request = {"build": {"environment": "python", "main_file": {"content": code}},
               "run": {"run_limits": {"memory": 256, "time": 5}}}
    assert daemon.post("/programs", json=request["build"]).status_code == 201
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: daemon.post("/run", json=request), range(2)))
    intervals = []
    for response in responses:
        assert response.status_code == 200, response.text
        start, end = map(float, response.json()["run"]["stdout"].split())
        intervals.append((start, end))
    return sorted(intervals)


def test_runs_that_do_not_fit_together_take_turns(daemon_factory: Callable[..., Any]) -> None:
    daemon = daemon_factory(MEMORY_BUDGET="300", MEMORY_BUDGET_WAIT="30")
    (_, first_end), (second_start, _) = run_both(daemon)
    assert second_start >= first_end, "the second run started while the first was running"


def test_runs_that_fit_together_overlap(daemon_factory: Callable[..., Any]) -> None:
    daemon = daemon_factory(MEMORY_BUDGET="600")
    (_, first_end), (second_start, _) = run_both(daemon)
    assert second_start < first_end


def test_a_run_that_waits_too_long_is_503_with_retry_after(daemon_factory: Callable[..., Any]) -> None:
    daemon = daemon_factory(MEMORY_BUDGET="300", MEMORY_BUDGET_WAIT="1")
    code = f"import time\ntime.sleep(4)\n# {uuid.uuid4()}\n"
    request = {"build": {"environment": "python", "main_file": {"content": code}},
               "run": {"run_limits": {"memory": 256, "time": 5}}}
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: daemon.post("/run", json=request), range(2)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503], [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["Retry-After"] == "1" and refused.json()["error"] == "busy"
    assert "memory_budget" in refused.json()["message"]
