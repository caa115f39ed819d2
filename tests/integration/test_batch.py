"""Batches through the daemon: POST /programs/{program_id}/batch and POST /batch with real jobs,
the verdicts and the summary, errors naming the run, the configured bound on runs, and a single
run that is not starved by a big batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

ADD = "read a b; echo $((a + b))\n"


@pytest.fixture(scope="module")
def adder(daemon: Any) -> str:
    response = daemon.post("/programs", json={"environment": "bash", "main_file": {"content": ADD}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


def test_test_cases_are_judged_in_order(daemon: Any, adder: str) -> None:
    runs = [{"stdin": f"{a} {b}", "expected_stdout": str(a + b)} for a, b in [(1, 2), (40, 2), (5, 5)]]
    runs.append({"stdin": "2 2", "expected_stdout": "5"})  # a wrong answer
    runs.append({"stdin": "7 7"})  # no verdict
    response = daemon.post(f"/programs/{adder}/batch", json={"runs": runs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["run"]["stdout"] for item in body["results"]] == ["3\n", "42\n", "10\n", "4\n", "14\n"]
    assert [item["passed"] for item in body["results"]] == [True, True, True, False, None]
    summary = body["summary"]
    assert (summary["runs"], summary["passed"], summary["failed"], summary["outputs_agree"]) == (5, 3, 1, False)
    assert 0 < summary["time"]["min"] <= summary["time"]["avg"] <= summary["time"]["max"]


def test_count_repeats_each_run_and_compare_tokens(daemon: Any, adder: str) -> None:
    response = daemon.post(f"/programs/{adder}/batch", json={
        "runs": [{"stdin": "1 1", "expected_stdout": " 2 "}], "count": 4, "compare": "tokens"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["passed"] for item in body["results"]] == [True] * 4
    assert body["summary"]["outputs_agree"] is True
    exact = daemon.post(f"/programs/{adder}/batch", json={
        "runs": [{"stdin": "1 1", "expected_stdout": "2"}], "compare": "exact"}).json()
    assert exact["results"][0]["passed"] is False  # "2\n" is not "2"


def test_stop_on_failure(daemon: Any, adder: str) -> None:
    runs = [{"stdin": "1 1", "expected_stdout": "2"}, {"stdin": "1 1", "expected_stdout": "3"}]
    runs += [{"stdin": "1 1", "expected_stdout": "2"}] * 20
    body = daemon.post(f"/programs/{adder}/batch", json={"runs": runs, "stop_on_failure": True}).json()
    assert [item["passed"] for item in body["results"]][:2] == [True, False]
    assert body["summary"]["runs"] < 22  # the runs after the failure were not started


def test_build_and_batch_in_one_request(daemon: Any) -> None:
    response = daemon.post("/batch", json={
        "build": {"environment": "python", "main_file": {"content": "print(int(input()) * 2)"}},
        "batch": {"runs": [{"stdin": "21", "expected_stdout": "42"}, {"stdin": "2", "expected_stdout": "4"}]}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"program_id", "ttl", "cached", "build", "batch"}
    assert body["batch"]["summary"]["passed"] == 2


def test_errors_name_the_run_and_the_limit(daemon: Any, adder: str) -> None:
    bad = daemon.post(f"/programs/{adder}/batch", json={"runs": [
        {}, {"run_limits": {"time": 10**6}}]})
    assert bad.status_code == 400 and bad.json()["error"] == "run_limits_exceeded", bad.text
    assert bad.json()["message"].startswith("runs[1]: ")
    names = daemon.post(f"/programs/{adder}/batch", json={"runs": [
        {"files": [{"name": "a", "content": ""}, {"name": "a", "content": ""}]}]})
    assert names.status_code == 400 and names.json()["message"].startswith("runs[0]: "), names.text
    too_many = daemon.post(f"/programs/{adder}/batch", json={"runs": [{}] * 10, "count": 101})
    assert too_many.status_code == 422 and "request_limits.batch_runs" in too_many.json()["reason"], too_many.text
    assert daemon.post(f"/programs/{adder}/batch", json={"runs": []}).status_code == 422
    missing = daemon.post("/programs/00000000-0000-0000-0000-000000000000/batch", json={"runs": [{}]})
    assert missing.status_code == 404 and missing.json()["error"] == "program_not_found"


def test_a_big_batch_does_not_starve_a_single_run(daemon_factory: Callable[..., Any]) -> None:
    """With two slots, a batch keeps one of them busy; a single run sent while the batch runs
    is answered within a few runs' time, not after the whole batch."""
    small = daemon_factory(MAX_CONCURRENT_JOBS="2", BASE_RESOURCE_USAGE_PERMITS="1")
    sleeper = small.post("/programs", json={"environment": "bash", "main_file": {"content": "sleep 0.2\n"}})
    program_id = sleeper.json()["program_id"]
    batch_took: list[float] = []

    def big_batch() -> None:
        started = time.monotonic()
        response = small.post(f"/programs/{program_id}/batch", json={"runs": [{}], "count": 40})
        assert response.status_code == 200 and response.json()["summary"]["runs"] == 40
        batch_took.append(time.monotonic() - started)

    thread = threading.Thread(target=big_batch)
    thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    single = small.post(f"/programs/{program_id}/run", json={})
    single_took = time.monotonic() - started
    thread.join()
    assert single.status_code == 200
    assert batch_took and batch_took[0] > 40 * 0.2  # one run at a time: at least 8 s
    assert single_took < 3.0, (single_took, batch_took)
