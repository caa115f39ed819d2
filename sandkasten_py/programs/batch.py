"""Many runs of one built program (`POST /programs/{program_id}/batch`): a judge's test cases, or
repetitions for timing.

Each run is a run step like any other and takes a job slot of its own, so a batch and single
runs share the slots first come, first served; a batch keeps at most `parallel` of its runs
waiting for or holding a slot, so that a request arriving behind a batch of 1,000 waits for
those few, not for the whole batch. Results come back in request order (a run's repetitions
together), whatever order the runs finished in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sandkasten_py.programs.errors import ProgramError
from sandkasten_py.schemas import BatchItem, BatchRequest, BatchResult, BatchRun, BatchSummary, Compare, RunResult, Spread


def expand(request: BatchRequest) -> list[tuple[int, BatchRun]]:
    """(index in `runs`, run) for every run to do, `count` times each, in result order."""
    return [(index, run) for index, run in enumerate(request.runs) for _ in range(request.count)]


def in_run(index: int, error: ProgramError) -> ProgramError:
    """`error` with a message that names the run it is about (`runs[3]: ...`)."""
    error.message = f"runs[{index}]: {error.message}"
    error.args = (error.message,)
    return error


def matches(stdout: str, expected: str, compare: Compare) -> bool:
    """Whether `stdout` is `expected` as `compare` says."""
    if compare == "exact":
        return stdout == expected
    if compare == "tokens":
        return stdout.split() == expected.split()
    return _trimmed(stdout) == _trimmed(expected)


def _trimmed(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def judged(result: RunResult, run: BatchRun, compare: Compare) -> BatchItem:
    """A run's result and whether it passed (None without `expected_stdout`)."""
    if run.expected_stdout is None:
        return BatchItem(run=result, passed=None)
    ok = result.status == 0 and not result.exceeded and matches(result.stdout, run.expected_stdout, compare)
    return BatchItem(run=result, passed=ok)


def failed(item: BatchItem) -> bool:
    """Whether a run counts as a failure for `stop_on_failure`."""
    if item.passed is not None:
        return not item.passed
    return item.run.status != 0 or bool(item.run.exceeded)


async def run_batch(request: BatchRequest, run_one: Callable[[int, BatchRun], Awaitable[RunResult]],
                    parallel: int) -> BatchResult:
    """Run every run of `request` with `run_one(index in runs, run)`, at most `parallel` at a
    time, and sum them up. The first error of a run (not of its program: a failure around it)
    is raised as it is, the other runs cancelled."""
    todo = expand(request)
    items: list[BatchItem | None] = [None] * len(todo)
    stopped = asyncio.Event()
    next_run = iter(range(len(todo)))

    async def worker() -> None:
        for position in next_run:
            if stopped.is_set():
                return
            index, run = todo[position]
            item = judged(await run_one(index, run), run, request.compare)
            items[position] = item
            if request.stop_on_failure and failed(item):
                stopped.set()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(parallel, len(todo))):
                group.create_task(worker())
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None
    done = [item for item in items if item is not None]
    return BatchResult(results=done, summary=summary(done))


def summary(items: list[BatchItem]) -> BatchSummary:
    """What the results add up to."""
    times = [float(item.run.resource_usage.time) for item in items]
    memory = [float(item.run.resource_usage.memory) for item in items]
    return BatchSummary(
        runs=len(items),
        passed=sum(item.passed is True for item in items),
        failed=sum(item.passed is False for item in items),
        time=_spread(times),
        memory=_spread(memory),
        outputs_agree=len({item.run.stdout for item in items}) <= 1,
    )


def _spread(values: list[float]) -> Spread:
    if not values:
        return Spread(min=0.0, avg=0.0, max=0.0)
    return Spread(min=min(values), avg=round(sum(values) / len(values), 3), max=max(values))
