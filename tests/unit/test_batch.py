"""Batches of runs (sandkasten_py.programs.batch) without a sandbox: comparing outputs, the
summary, the order of results, the bound on runs at once, and stopping at a failure."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from sandkasten_py.programs.batch import matches, run_batch
from sandkasten_py.schemas import BatchRequest, BatchRun, Compare, Limits, ResourceUsage, RunResult

LIMITS = Limits(cpus=1, time=5, memory=256, tmpfs=256, filesize=16, file_descriptors=256, processes=64,
                stdout_max_size=65536, stderr_max_size=65536, network=False)


def result(stdout: str, status: int = 0, time: int = 10, memory: int = 100, exceeded: list[str] | None = None) -> RunResult:
    return RunResult(status=status, stdout=stdout, stderr="", limits=LIMITS, exceeded=exceeded or [],
                     resource_usage=ResourceUsage(time=time, memory=memory, cpu_time=time))


@pytest.mark.parametrize(("stdout", "expected", "compare", "verdict"), [
    ("42\n", "42\n", "exact", True),
    ("42\n", "42", "exact", False),
    ("42  \n\n\n", "42", "trailing_whitespace", True),
    ("a \nb\t\n", "a\nb\n", "trailing_whitespace", True),
    (" 42\n", "42\n", "trailing_whitespace", False),  # leading whitespace counts
    ("a\n\nb\n", "a\nb\n", "trailing_whitespace", False),  # an empty line inside counts
    ("1  2\n3\n", "1 2 3", "tokens", True),
    ("1 2 3 4", "1 2 3", "tokens", False),
])
def test_outputs_are_compared_as_asked(stdout: str, expected: str, compare: Compare, verdict: bool) -> None:
    assert matches(stdout, expected, compare) is verdict


def batch(runs: list[dict[str, object]], **options: object) -> BatchRequest:
    return msgspec.convert({"runs": runs, **options}, BatchRequest)


def test_results_come_in_request_order_with_a_summary() -> None:
    running = 0
    most = 0

    async def run_one(index: int, run: BatchRun) -> RunResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01 * (3 - index))  # later runs finish first
        running -= 1
        answer = {0: "1\n", 1: "2 \n", 2: "wrong\n"}[index]
        return result(answer, time=10 * (index + 1), memory=100 * (index + 1))

    request = batch([{"stdin": "a", "expected_stdout": "1"}, {"expected_stdout": "2"}, {"expected_stdout": "3"}],
                    count=2)
    done = asyncio.run(run_batch(request, run_one, parallel=2))
    assert [item.run.stdout for item in done.results] == ["1\n", "1\n", "2 \n", "2 \n", "wrong\n", "wrong\n"]
    assert [item.passed for item in done.results] == [True, True, True, True, False, False]
    assert most == 2  # never more runs at once than `parallel`
    summary = done.summary
    assert (summary.runs, summary.passed, summary.failed, summary.outputs_agree) == (6, 4, 2, False)
    assert (summary.time.min, summary.time.avg, summary.time.max) == (10.0, 20.0, 30.0)
    assert (summary.memory.min, summary.memory.max) == (100.0, 300.0)


def test_a_run_without_expected_output_has_no_verdict_and_a_failure_needs_status_and_limits() -> None:
    async def run_one(index: int, run: BatchRun) -> RunResult:
        return [result("same"), result("same", status=1), result("same", exceeded=["time"])][index]

    done = asyncio.run(run_batch(batch([{}, {"expected_stdout": "same"}, {"expected_stdout": "same"}]),
                                 run_one, parallel=4))
    assert [item.passed for item in done.results] == [None, False, False]
    assert done.summary.outputs_agree and (done.summary.passed, done.summary.failed) == (0, 2)


def test_stop_on_failure_starts_no_more_runs() -> None:
    started: list[int] = []

    async def run_one(index: int, run: BatchRun) -> RunResult:
        started.append(index)
        return result("ok" if index != 2 else "bad")

    runs: list[dict[str, object]] = [{"expected_stdout": "ok"} for _ in range(10)]
    done = asyncio.run(run_batch(batch(runs, stop_on_failure=True), run_one, parallel=1))
    assert started == [0, 1, 2]
    assert [item.passed for item in done.results] == [True, True, False]


def test_an_error_around_a_run_is_raised_as_it_is() -> None:
    async def run_one(index: int, run: BatchRun) -> RunResult:
        if index == 1:
            raise LookupError("the program is gone")
        await asyncio.sleep(0.05)
        return result("")

    with pytest.raises(LookupError, match="the program is gone"):
        asyncio.run(run_batch(batch([{}, {}, {}]), run_one, parallel=3))
