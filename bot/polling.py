"""Long polling with group commit: a getUpdates batch is handled in few transactions.

Each update runs in its own SAVEPOINT, so one bad update rolls back alone; the batch commits
once per slice of about half a second (one fsync for many updates) and only the next
getUpdates, after the whole batch, confirms the offset to Telegram. A crash mid-batch
therefore loses nothing: Telegram sends the batch again and the committed update ids make
the replay of its handled part a no-op.

Why slices and not one transaction: during a storm a hundred `/down`s take seconds to
handle, and the outbox can send nothing queued before the commit (SQLite: nor take the
write lock). One commit per batch made the first reporter's acknowledgement wait for the
hundredth report; a slice lets the worker send what is ready while the batch goes on, and
a slice ends early for a writer waiting for SQLite's lock (`WriteGate`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

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


@dataclass
class _Handling:
    """How a batch's updates are handled: the follow-up path while it works."""

    path: FollowUpPath | None = None
    counter: UpdateCounter | None = None

    @classmethod
    def of(cls, dispatcher: Dispatcher, follow_ups: bool) -> _Handling:
        handling = cls()
        for middleware in dispatcher.update.outer_middleware:
            if isinstance(middleware, FollowUpPath) and follow_ups:
                handling.path = middleware
            elif isinstance(middleware, UpdateCounter):
                handling.counter = middleware
        return handling


# How long a polled batch holds the write lock before it commits what it handled so far.
SLICE_SECONDS = 0.5
# How long it holds it at least when another writer waits for it (`WriteGate.waiting`).
SHORTEST_SLICE_SECONDS = 0.1


class WriteGate(asyncio.Lock):
    """SQLite's one writer at a time, taken in turn in this process (an `asyncio.Lock`
    serves its waiters in order), and how many wait for it.

    Why the count: a polled batch commits a slice of updates at a time, and during a storm
    the outbox waited out a whole slice twice a round (to take its rows, to record what it
    sent), so acknowledgements left in bursts 2 s apart instead of every second. A slice
    ends early, once it has had `SHORTEST_SLICE_SECONDS`, when someone waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0

    async def acquire(self) -> Literal[True]:
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1


async def handle_batch(
    dispatcher: Dispatcher,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    updates: list[Update],
    *,
    write_gate: AbstractAsyncContextManager[Any] | None = None,
    on_commit: Callable[[], None] = lambda: None,
    slice_seconds: float = SLICE_SECONDS,
    follow_ups: bool = True,
) -> None:
    """Handles the updates in order, committing (and calling `on_commit`) after each slice
    of about `slice_seconds`; `write_gate` is held for each slice, not across them.
    `follow_ups=False` dispatches every update (the tests compare both ways)."""
    handling = _Handling.of(dispatcher, follow_ups)
    ids = frozenset(update.update_id for update in updates)
    seen: frozenset[int] | None = None
    clock = asyncio.get_running_loop().time
    left = updates
    while left:
        # A session per slice: between slices the outbox may change the rows this one read
        # (a topic's thread id), and a fresh session reads them anew.
        async with write_gate or contextlib.nullcontext(), sessionmaker() as session:
            if seen is None:
                seen = await UpdateLog(session).seen_among(ids)
            token = current_batch.set(Batch(session, ids, seen))
            try:
                # Each update's locale and handler look up its sender's contact: one query.
                await ContactService(session).preload(senders(left))
                until = clock() + slice_seconds
                handled = await _handle_slice(
                    handling, dispatcher, bot, left, until, _someone_waits(write_gate)
                )
                await session.commit()
            finally:
                current_batch.reset(token)
        on_commit()
        left = left[handled:]


def _someone_waits(write_gate: AbstractAsyncContextManager[Any] | None) -> Callable[[], bool]:
    if isinstance(write_gate, WriteGate):
        return lambda: write_gate.waiting > 0
    return lambda: False


async def _handle_slice(
    handling: _Handling,
    dispatcher: Dispatcher,
    bot: Bot,
    updates: list[Update],
    until: float,
    someone_waits: Callable[[], bool],
) -> int:
    """Handles updates until the time `until` has passed, or `SHORTEST_SLICE_SECONDS` have
    and another writer waits (at least one update); returns how many."""
    clock = asyncio.get_running_loop().time
    soonest = min(clock() + SHORTEST_SLICE_SECONDS, until)
    batch = current_batch.get()
    assert batch is not None
    index = 0

    def going_on() -> bool:
        now = clock()
        return now < until and (now < soonest or not someone_waits())

    while index < len(updates) and (index == 0 or going_on()):
        # In the batch's order: a run of follow-ups at once, up to the next update the path
        # does not take, which goes through the dispatcher, and so on, so each update still
        # sees what every one before it did.
        if handling.path is not None:
            try:
                taken = await handling.path.take_follow_ups(batch, dispatcher, bot, updates[index:])
            except Exception:
                # Nothing of the run was kept: the dispatcher takes the rest one by one (a
                # concurrent duplicate is retried there, a bug isolated).
                log.exception("follow_ups_failed", update_id=updates[index].update_id)
                handling.path = None
                continue
            if taken:
                if handling.counter is not None:
                    handling.counter.metrics.updates.labels(result="ok").inc(taken)
                index += taken
                continue
        update = updates[index]
        index += 1
        try:
            await dispatcher.feed_update(bot, update)
        except Exception:
            # Its savepoint is rolled back; the others of the batch still count.
            log.exception("update_failed", update_id=update.update_id)
    return index


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
        await handle_batch(
            dispatcher, bot, sessionmaker, updates, write_gate=write_gate, on_commit=on_commit
        )
        offset = updates[-1].update_id + 1
    if offset is not None:
        # Confirms the last batch to Telegram so the next start does not replay it.
        with contextlib.suppress(Exception):
            await bot.get_updates(
                offset=offset, timeout=0, limit=1, allowed_updates=allowed_updates
            )
    log.info("polling_stopped", answer_models=len(answer_models))
