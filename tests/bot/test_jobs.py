"""A scheduled job cut off by the scheduler's shutdown still finishes its write."""

from __future__ import annotations

import asyncio

from bot.jobs import FinishingJobs


async def test_a_job_cancelled_at_shutdown_finishes_and_the_stop_waits_for_it() -> None:
    jobs = FinishingJobs()
    in_transaction = asyncio.Event()
    may_commit = asyncio.Event()
    committed: list[str] = []

    async def scan(label: str) -> None:
        in_transaction.set()
        await may_commit.wait()
        committed.append(label)

    scheduled = asyncio.ensure_future(jobs.wrap(scan)("scan"))
    await in_transaction.wait()
    scheduled.cancel()  # what APScheduler's shutdown does to a running job
    await asyncio.gather(scheduled, return_exceptions=True)
    assert committed == []

    stopping = asyncio.ensure_future(jobs.wait(timeout=30))
    await asyncio.sleep(0)
    assert not stopping.done()
    may_commit.set()
    await stopping
    assert committed == ["scan"]


async def test_waiting_with_no_job_running_returns_at_once() -> None:
    await asyncio.wait_for(FinishingJobs().wait(timeout=30), timeout=5)
