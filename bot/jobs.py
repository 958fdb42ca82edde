"""Scheduled jobs that write to the database, finished rather than cut off at a stop.

APScheduler cancels a job that is still running when the scheduler shuts down. A task
cancelled in the middle of a database call can leave its connection checked out until it is
garbage-collected, and with SQLite that connection may hold the single write lock: the
outbox drain and every later writer of the stopping process then wait on it. So each job
runs as a task of its own, shielded from that cancellation, and the stop waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger()


class FinishingJobs:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()

    def wrap(self, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(job)
        async def run(*args: Any) -> None:
            task = asyncio.ensure_future(job(*args))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

        return run

    async def wait(self, timeout: float) -> None:
        """Waits for the jobs still running (each is short: one scan, one stamp)."""
        if not self._running:
            return
        done, pending = await asyncio.wait(set(self._running), timeout=timeout)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("job_failed_at_stop", error=repr(task.exception()))
        if pending:
            log.warning("jobs_still_running_at_stop", count=len(pending))
