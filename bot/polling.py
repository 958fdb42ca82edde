"""Long polling with group commit: a getUpdates batch is handled in one transaction.

Each update runs in its own SAVEPOINT, so one bad update rolls back alone; the batch commits
once (one fsync for up to 100 updates) and only then does the next getUpdates confirm the
offset to Telegram. A crash mid-batch therefore loses nothing: Telegram sends the batch
again and the committed update ids make the replay a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog
from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import UpdateCounter
from bot.responses import pin_answer_models
from crm.contacts import ContactService
from crm.updates import UpdateLog

log = structlog.get_logger()


@dataclass
class Batch:
    session: AsyncSession
    # The batch's update ids, and those of them handled before (read in one query).
    checked: frozenset[int] = frozenset()
    seen: frozenset[int] = frozenset()


# Set while a polled batch is being handled; the database middleware joins it.
current_batch: ContextVar[Batch | None] = ContextVar("current_batch", default=None)


@runtime_checkable
class FollowUpPath(Protocol):
    """Takes a leading run of a batch's updates at once (the database middleware does:
    clients' plain texts to their open tickets) and says how many it took."""

    async def take_follow_ups(
        self, batch: Batch, dispatcher: Dispatcher, bot: Bot, updates: Sequence[Update]
    ) -> int: ...


async def handle_batch(
    dispatcher: Dispatcher,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    updates: list[Update],
    *,
    follow_ups: bool = True,
) -> None:
    """`follow_ups=False` dispatches every update (the tests compare both ways)."""
    path: FollowUpPath | None = None
    counter: UpdateCounter | None = None
    for middleware in dispatcher.update.outer_middleware:
        if isinstance(middleware, FollowUpPath):
            path = middleware
        elif isinstance(middleware, UpdateCounter):
            counter = middleware
    async with sessionmaker() as session:
        ids = frozenset(update.update_id for update in updates)
        batch = Batch(session, ids, await UpdateLog(session).seen_among(ids))
        token = current_batch.set(batch)
        # Each update's locale and handler look up its sender's contact: one query for all.
        await ContactService(session).preload(senders(updates))
        try:
            index = 0
            while index < len(updates):
                # In the batch's order: a run of follow-ups at once, up to the next update
                # the path does not take, which goes through the dispatcher, and so on, so
                # each update still sees what every one before it did.
                if follow_ups and path is not None:
                    try:
                        taken = await path.take_follow_ups(batch, dispatcher, bot, updates[index:])
                    except Exception:
                        # Nothing of the run was kept: the dispatcher takes the rest one by
                        # one (a concurrent duplicate is retried there, a bug isolated).
                        log.exception("follow_ups_failed", update_id=updates[index].update_id)
                        follow_ups = False
                        continue
                    if taken:
                        if counter is not None:
                            counter.metrics.updates.labels(result="ok").inc(taken)
                        index += taken
                        continue
                update = updates[index]
                index += 1
                try:
                    await dispatcher.feed_update(bot, update)
                except Exception:
                    # Its savepoint is rolled back; the others of the batch still count.
                    log.exception("update_failed", update_id=update.update_id)
            await session.commit()
        finally:
            current_batch.reset(token)


def senders(updates: list[Update]) -> set[int]:
    """The Telegram user ids the batch's updates come from (those that name one)."""
    found: set[int] = set()
    for update in updates:
        try:
            event = update.event
        except Exception:  # an update type this aiogram does not know: nothing to preload
            continue
        user = getattr(event, "from_user", None)
        if user is not None:
            found.add(user.id)
    return found


def poll_failed(error: Exception, failures: int) -> float:
    """Logs a failed getUpdates and returns how long to wait before the next one.

    409 Conflict means another process polls with this token (a second desk, a developer's
    laptop, a webhook left set): Telegram ends one of the two polls each time. The running
    desk says so once per streak, in one line, and keeps trying with a backoff, so it takes
    over again as soon as the other one stops (see README, "409 Conflict").
    """
    delay = min(2.0**failures, 30.0)
    if isinstance(error, TelegramConflictError):
        if failures == 1:
            log.error(
                "get_updates_conflict",
                hint="another process is polling with this BOT_TOKEN (or a webhook is set); "
                "stop it: this desk keeps retrying and takes over when it is gone",
                retry_in=delay,
            )
        return delay
    log.warning("get_updates_failed", error=str(error), retry_in=delay)
    return delay


async def poll_in_batches(
    dispatcher: Dispatcher,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    polling_timeout: int,
    stop_requested: asyncio.Event,
    on_commit: Callable[[], None],
    write_gate: AbstractAsyncContextManager[Any] | None = None,
    limit: int = 100,
    on_poll: Callable[[], None] = lambda: None,
) -> None:
    allowed_updates = dispatcher.resolve_used_update_types()
    answer_models = pin_answer_models()  # held while polling: see bot/responses.py
    # What exists by now (routers, models, the ORM's mappings, compiled statements) lives as
    # long as the process: frozen out of the garbage collector's sight, the collections a
    # burst's short-lived objects trigger no longer walk all of it each time.
    gc.freeze()
    offset: int | None = None
    failures = 0
    log.info("polling")
    on_poll()
    while not stop_requested.is_set():
        fetch = asyncio.ensure_future(
            bot.get_updates(
                offset=offset,
                timeout=polling_timeout,
                limit=limit,
                allowed_updates=allowed_updates,
            )
        )
        stop = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not fetch.done():
            # Stopping while waiting: nothing fetched, nothing to lose.
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            break
        try:
            updates = fetch.result()
        except TelegramRetryAfter as error:
            await asyncio.sleep(error.retry_after)
            continue
        except (TelegramNetworkError, TelegramServerError, TelegramConflictError) as error:
            failures += 1
            await asyncio.sleep(poll_failed(error, failures))
            continue
        if failures:
            log.info("get_updates_recovered", after_failures=failures)
        failures = 0
        # Telegram answered: the loop is alive, whether or not there was anything new.
        on_poll()
        if not updates:
            continue
        # A batch once started is finished and committed even if a stop is requested.
        async with write_gate or contextlib.nullcontext():
            await handle_batch(dispatcher, bot, sessionmaker, updates)
        on_commit()
        offset = updates[-1].update_id + 1
    if offset is not None:
        # Confirms the last batch to Telegram so the next start does not replay it.
        with contextlib.suppress(Exception):
            await bot.get_updates(
                offset=offset, timeout=0, limit=1, allowed_updates=allowed_updates
            )
    log.info("polling_stopped", answer_models=len(answer_models))
