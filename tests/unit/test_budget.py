"""The memory budget: jobs' memory limits add up to at most the budget; waiting is bounded."""

from __future__ import annotations

import asyncio

import pytest

from sandkasten_py.programs.budget import MemoryBudget
from sandkasten_py.programs.errors import Busy


def test_jobs_wait_while_their_limits_do_not_fit_and_go_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        budget = MemoryBudget(1000, wait_s=10)
        events: list[str] = []
        release = {name: asyncio.Event() for name in "abcd"}

        async def job(name: str, mb: int) -> None:
            async with budget.hold(mb):
                events.append(f"{name} starts ({budget.reserved_mb} MB held)")
                await release[name].wait()
            events.append(f"{name} ends")

        tasks = [asyncio.create_task(job(name, mb)) for name, mb in (("a", 600), ("b", 500), ("c", 100), ("d", 400))]
        await asyncio.sleep(0.05)
        assert budget.waiting == 3  # c would fit, but waits behind b: no overtaking
        release["a"].set()
        await asyncio.sleep(0.05)
        assert (budget.reserved_mb, budget.waiting) == (1000, 0)  # b, c and d fit together
        release["b"].set()
        release["c"].set()
        release["d"].set()
        await asyncio.gather(*tasks)
        assert budget.reserved_mb == 0 and budget.waiting == 0
        return events

    events = asyncio.run(scenario())
    assert events[:3] == ["a starts (600 MB held)", "a ends", "b starts (1000 MB held)"]


def test_a_job_that_waits_too_long_is_refused_with_a_retry_after_and_takes_nothing() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(1000, wait_s=0.2)
        async with budget.hold(800):
            with pytest.raises(Busy) as info:
                async with budget.hold(300):
                    pass
            assert info.value.retry_after == 1
            assert "300 MB within 0.2 s: 800 of 1000 MB are held" in (info.value.message or "")
            assert budget.waiting == 0
            async with budget.hold(200):  # what still fits is not blocked by the refused one
                assert budget.reserved_mb == 1000
        assert budget.reserved_mb == 0

    asyncio.run(scenario())


def test_a_limit_above_the_whole_budget_runs_alone() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(1000, wait_s=5)
        async with budget.hold(4000):
            assert budget.reserved_mb == 1000
        async with budget.hold(100):
            assert budget.reserved_mb == 100

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_nothing_held() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(100, wait_s=5)
        async with budget.hold(100):
            waiter = asyncio.create_task(budget.hold(50).__aenter__())
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert budget.reserved_mb == 0 and budget.waiting == 0

    asyncio.run(scenario())
