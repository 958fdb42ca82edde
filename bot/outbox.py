"""The outbox worker: delivers queued messages within Telegram's limits, in order.

Guarantees, as the README states them:
- a message is queued in the transaction that decided to send it, so none is lost;
- rows of one chat (one forum topic, for the support group) go out in the order queued;
- 429 waits Telegram's `retry_after`; 5xx and network errors back off and retry forever;
  only permanent errors (400, 403, 404) give up, and the reason is recorded;
- a row is marked sent after Telegram accepted it, so a crash in between sends it at most
  once more, never zero times.

What a send or a failure means (a first response, a topic, a notice) is crm/delivery.py's
business: this worker only classifies Telegram's answer and hands it over. Job rows (a
report to build) are not messages: they are handed to their job and hold no chat back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import structlog
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReactionTypeEmoji
from aiogram.utils.i18n import I18n
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import DeskMetrics
from bot.rate_limits import Limiter, RateLimiter, RateLimits, Reservation
from bot.responses import pin_answer_models
from bot.telegram import OutboxSendMessage
from crm.delivery import (
    Batch,
    CopyFailed,
    DeliveryNotice,
    DeliveryReceipt,
    FailureReceipt,
    Outcome,
    TicketPlace,
    record_delivered,
    record_delivered_many,
    record_failed,
    take_rows,
)
from crm.models import OutboxMessage, OutboxStatus, Purpose
from crm.outbox import REPORT_REQUEST, Outbox, Queued

log = structlog.get_logger()

TEXT_LIMIT = 4096
PERMANENT_ERRORS = (
    TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramUnauthorizedError,
)  # fmt: skip
TRANSIENT_ERRORS = (TelegramServerError, TelegramNetworkError)
# Rows that are work for the bot rather than messages; a worker without their job skips them.
JOB_METHODS = frozenset({REPORT_REQUEST})
# How far down a group's queue one pass looks for the heads of its topics: bounded, so a
# backlog costs nothing per pass; rows further down move up as the ones ahead are sent.
GROUP_WINDOW = 200
# With the OUTBOX_* limits raised above Telegram's (as the benchmarks raise them), a round
# may send far more than that: it looks as far down as it may send, up to here.
GROUP_WINDOW_MAX = 1000
# How many rows of one topic (one queue of the group) a round sends one after the other
# when the group's budget is not what paces it (limits raised): a client who wrote five
# times in a burst waits one round, not five. Bounded, so one long queue does not hold the
# round's recording back for the others. With Telegram's 20 a minute, one row per topic
# and round, as the rows behind a head merge into one message when the budget runs out.
RUN_LIMIT = 10
# Rows after which the rest of their queue waits for the next round: what they leave
# behind (a topic's thread, a header's message) is read when rows are taken.
RUN_ENDERS = frozenset({Purpose.TOPIC, Purpose.ROOM, Purpose.HEADER})


class WorkerClock(Protocol):
    """The worker's time: wall time for rows, monotonic time for rate windows, and waits.

    Injected so a test can move time on instead of sleeping through it.
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# A job row (a report to build, say) is handed to a coroutine taking its id, not sent.
Job = Callable[[int], Coroutine[Any, Any, None]]


# What a topic belongs to: ("ticket", id) or ("incident", id), None outside topics.
TopicOwner = tuple[str, int] | None
# A chat, and for the support group the ticket's topic or incident's room: the unit of ordering.
Destination = tuple[int, TopicOwner, bool]


# When the group's 20 a minute run short, what the engineers need first goes first: the
# reports and alerts of an outage before a new ticket's card, and cards before renames.
FIRST_PURPOSES = frozenset(
    {Purpose.ALERT, Purpose.COPY_IN, Purpose.REPLY, Purpose.ROOM, Purpose.MONITORING}
)
LAST_METHODS = frozenset(
    {"editForumTopic", "closeForumTopic", "reopenForumTopic", "setMessageReaction"}
)


def urgency(row: Queued) -> tuple[int, int]:
    """The order in which heads draw on the budgets: by need, then by age."""
    if row.method in LAST_METHODS or row.purpose is Purpose.TOPIC_NAME:
        rank = 2
    elif row.purpose in FIRST_PURPOSES or (
        row.incident_id is not None and row.purpose is Purpose.NOTICE
    ):
        rank = 0
    else:
        rank = 1
    return rank, row.id


def _is_job(row: OutboxMessage | Queued) -> bool:
    return row.method in JOB_METHODS


def _topic_owner(row: OutboxMessage | Queued) -> TopicOwner:
    if row.incident_id is not None and (row.to_topic or row.purpose is Purpose.ROOM):
        return ("incident", row.incident_id)
    if row.ticket_id is not None and (row.to_topic or row.purpose is Purpose.TOPIC):
        return ("ticket", row.ticket_id)
    return None


def _destination(row: Queued) -> Destination:
    if row.method == "createForumTopic" and row.purpose in (Purpose.TOPIC, Purpose.ROOM):
        # A topic's creation heads its own queue, not the general topic's: an alert there
        # need not wait behind a storm of new tickets' topics.
        return row.chat_id, _topic_owner(row), True
    return row.chat_id, _topic_owner(row) if row.to_topic else None, row.to_topic


def _mergeable_text(row: Queued | OutboxMessage) -> str | None:
    payload = row.payload or {}
    if row.method == "sendMessage" and "reply_markup" not in payload:
        return str(payload.get("text", ""))
    if row.method == "copyMessage" and payload.get("plain_text"):
        return str(payload["plain_text"])
    return None


def _gathers(destination: Destination, waiting: list[Queued]) -> bool:
    """A room's lines queued together go as one message, the room's digest: in a storm of
    reports each line alone would spend one of the group's 20 messages a minute."""
    owner = destination[1]
    if owner is None or owner[0] != "incident" or len(waiting) < 2:
        return False
    first, second = (_mergeable_text(row) for row in waiting[:2])
    return (
        first is not None
        and second is not None
        and waiting[1].not_before is None
        # What `_merge` counts: each part and its separator.
        and len(first) + 2 + len(second) + 2 <= TEXT_LIMIT
    )


def group_window(limits: RateLimits) -> int:
    """How far down the group's queue a round looks for its topics' heads: as far as one
    round may send to it, and not less than GROUP_WINDOW (a spent budget's merges look down
    the queue too)."""
    per_round = min(limits.overall_per_second, limits.group_per_minute)
    return int(min(max(GROUP_WINDOW, per_round), GROUP_WINDOW_MAX))


def run_limit(limits: RateLimits) -> int:
    """How many rows of one topic a round may send (see RUN_LIMIT)."""
    return RUN_LIMIT if group_window(limits) > GROUP_WINDOW else 1


def _run(
    waiting: list[Queued], first_topic_row: Mapping[TopicOwner, int], limit: int
) -> list[Queued]:
    """The rows of one queue that may go in this round, one after the other: its head, and
    in the group the rows behind it that need nothing the ones before them bring back."""
    run = waiting[:1]
    if waiting[0].chat_id > 0:
        return run
    for row in waiting[1:limit]:
        before = run[-1]
        topic_row = first_topic_row.get(_topic_owner(row)) if row.to_topic else None
        if (
            row.not_before is not None
            or "copy_of_row" in (row.payload or {})  # the copy's id comes back with it
            or row.method == "createForumTopic"
            or before.method == "createForumTopic"
            or before.purpose in RUN_ENDERS
            or (topic_row is not None and topic_row < row.id)
        ):
            break
        run.append(row)
    return run


def _taken_runs(
    planned: list[list[tuple[Queued, Reservation]]], batch: Batch | None
) -> list[list[OutboxMessage]]:
    """Each run cut at its first row not taken (another instance holds it): the rows
    behind it must not pass it."""
    taken = {row.id: row for row in batch.rows} if batch is not None else {}
    runs: list[list[OutboxMessage]] = []
    for run in planned:
        rows: list[OutboxMessage] = []
        for queued, _ in run:
            if queued.id not in taken:
                break
            rows.append(taken[queued.id])
        if rows:
            runs.append(rows)
    # Started in the order queued, as one row per chat always went: of two topics created
    # in one round, the older asks first.
    return sorted(runs, key=lambda run: run[0].id)


def classify(
    error: TelegramAPIError, attempts: int, backoff: float, ceiling: float
) -> FailureReceipt:
    """A failed send as a typed outcome; `attempts` counts the tries before this one."""
    if isinstance(error, TelegramRetryAfter):
        return FailureReceipt(
            Outcome.RETRY_AFTER, error.message, timedelta(seconds=error.retry_after)
        )
    if isinstance(error, TRANSIENT_ERRORS):
        delay = min(backoff * 2**attempts, ceiling)
        return FailureReceipt(Outcome.TRANSIENT, str(error), timedelta(seconds=delay))
    return FailureReceipt(Outcome.PERMANENT, error.message)


def send_result(error: TelegramAPIError) -> str:
    """The `result` label of a failed send, as an operator tells causes apart."""
    if isinstance(error, TelegramRetryAfter):
        return "429"
    if isinstance(error, TelegramServerError):
        return "5xx"
    if isinstance(error, TelegramNetworkError):
        return "network"
    return "permanent"


def _copy_id(batch: Batch, row: OutboxMessage) -> int | None:
    """For an edit of a copy that was on its way: the copy's id, known once it arrived."""
    copied = batch.messages.get(row.payload.get("copy_of_row", 0))
    return copied.copy_message_id if copied is not None else None


def receipt_of(result: Any) -> DeliveryReceipt:
    if isinstance(result, list):  # copyMessages: the album's copies, in order
        ids = tuple(item.message_id for item in result)
        return DeliveryReceipt(message_id=ids[0] if ids else None, message_ids=ids)
    return DeliveryReceipt(
        message_id=getattr(result, "message_id", None),
        thread_id=getattr(result, "message_thread_id", None),
    )


class OutboxWorker:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        engineer_locale: str,
        limits: RateLimits | None = None,
        *,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 60,
        write_gate: AbstractAsyncContextManager[Any] | None = None,
        clock: WorkerClock | None = None,
        jobs: Mapping[str, Job] | None = None,
        metrics: DeskMetrics | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics or DeskMetrics()
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.engineer_locale = engineer_locale
        self.clock: WorkerClock = clock or SystemClock()
        # Shared by every instance with Redis; this process's own windows otherwise.
        self.limiter: Limiter = limiter or RateLimiter(limits or RateLimits(), self.clock.monotonic)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        # With SQLite, an in-process lock shared with the poller: SQLite's own busy handler
        # is not fair, and a worker could wait out its timeout behind back-to-back batches.
        self.write_gate = write_gate or contextlib.nullcontext()
        self.jobs: dict[str, Job] = dict(jobs or {})
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._answer_models = pin_answer_models()

    def kick(self) -> None:
        self._wake.set()

    async def seed_limits(self, group_ids: Iterable[int]) -> None:
        """After a restart, what went to the groups in their last window still counts, so a
        quick restart does not spend a group's minute twice. (Windows kept in Redis outlived
        the restart; private chats' and the overall one-second windows have passed.)"""
        if self.limiter.shared:
            return
        now = self.clock.now()
        sent: list[tuple[int, float]] = []
        async with self.sessionmaker() as session:
            outbox = Outbox(session)
            for chat_id in group_ids:
                span = timedelta(seconds=self.limiter.limits.window(chat_id)[0])
                for at in await outbox.sent_since(chat_id, now - span):
                    sent.append((chat_id, (now - at).total_seconds()))
        await self.limiter.seed(sent)
        if sent:
            log.info("outbox_limits_seeded", sends=len(sent))

    async def run(self) -> None:
        while not self._stopping:
            # Cleared before looking, so a kick while delivering is not lost.
            self._wake.clear()
            wait = await self.deliver_once()
            await self._idle(5.0 if wait is None else max(wait, 0.01))

    async def _idle(self, seconds: float) -> None:
        woken = asyncio.ensure_future(self._wake.wait())
        slept = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            slept.cancel()

    def stop(self) -> None:
        """No new jobs are started from now on; deliveries go on for `drain`."""
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        """Cancels jobs still running; each leaves its row pending for the next start."""
        for task in list(self._running.values()):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def drain(self, timeout: float = 30, patience: float | None = None) -> None:
        """Delivers until nothing is pending (used on shutdown and by tests).

        With `patience`, stops as soon as what is left must wait longer than that for a
        budget (a stop leaves it to the next start rather than sit out the group's minute).
        """
        deadline = self.clock.monotonic() + timeout
        while self.clock.monotonic() < deadline:
            wait = await self.deliver_once()
            if wait is None:
                return
            if patience is not None and not self._running and wait > patience:
                return
            left = max(deadline - self.clock.monotonic(), 0)
            if self._running:
                # A job's end is what the rows wait for, not the time.
                await asyncio.wait(list(self._running.values()), timeout=left)
                continue
            await self.clock.sleep(min(max(wait, 0.01), left))
        raise TimeoutError("outbox not drained")

    async def deliver_once(self) -> float | None:
        """Sends every chat's next row that its budget allows; returns seconds until more
        can go, or None when nothing is pending."""
        async with self.sessionmaker() as session:
            # One turn of the write gate from reading the queue to taking the rows: the
            # poller cannot slip a whole batch in between and leave the chosen rows waiting.
            async with self.write_gate:
                job_rows, rows = await self._read_queue(session)
                now = self.clock.now()
                job_wait = self._start_jobs(job_rows, now)
                if not rows:
                    return job_wait
                planned, next_wait, merges = await self._choose(rows, now)
                restamps = {row.id: grant for run in planned for row, grant in run}
                batch = await take_rows(session, sorted(restamps)) if restamps else None
                runs = _taken_runs(planned, batch)
                await self._release_untaken(restamps, runs)
                if batch is None:
                    await session.rollback()  # only read: the merges below write apart
                elif session.get_bind().dialect.name == "sqlite":
                    # One process owns a SQLite file, so no row lock is needed, and holding
                    # the single write lock across a network call would stall every writer.
                    await session.commit()
            for waiting in merges:
                await self._merge(waiting)
            if batch is not None:
                await self._deliver_all(session, batch, restamps, runs)
                return 0.0
        return next_wait if job_wait is None else min(next_wait, job_wait)

    async def _read_queue(self, session: AsyncSession) -> tuple[list[Queued], list[Queued]]:
        """Job rows, and the rows that may head a queue: each private chat's first row, and
        the first rows of each group (its topics are queues of their own, so look a bounded
        way down it for the head of each; the group's budget is shared anyway)."""
        skip = JOB_METHODS | set(self.jobs)
        outbox = Outbox(session)
        job_rows = await outbox.pending_jobs(list(self.jobs))
        rows: list[Queued] = []
        window = group_window(self.limiter.limits)
        for head in await outbox.chat_heads(skip):
            if head.chat_id < 0:
                rows += await outbox.queued_in(head.chat_id, skip, window)
            else:
                rows.append(head)
        rows.sort(key=lambda row: row.id)
        return job_rows, rows

    def _start_jobs(self, rows: list[Queued], now: datetime) -> float | None:
        wait: float | None = None
        for row in rows:
            if self._stopping and row.id not in self._running:
                continue  # Shutting down: left pending for the next start.
            if row.id in self._running:
                until = row.not_before or now
            elif row.not_before is not None and row.not_before > now:
                until = row.not_before  # Another instance holds it, or it failed: later.
            else:
                task = asyncio.create_task(self.jobs[row.method](row.id))
                self._running[row.id] = task
                task.add_done_callback(partial(self._job_done, row.id))
                until = now
            # Capped: rows another instance queues are found by looking, not by a kick.
            seconds = min(max((until - now).total_seconds(), 0.01), 5.0)
            wait = seconds if wait is None else min(wait, seconds)
        return wait

    def _job_done(self, row_id: int, task: asyncio.Task[None]) -> None:
        self._running.pop(row_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox_job_failed", row=row_id, error=repr(task.exception()))
        self.kick()

    async def _choose(
        self, rows: list[Queued], now: datetime
    ) -> tuple[list[list[tuple[Queued, Reservation]]], float, list[list[Queued]]]:
        """The run of each chat's queue (its head, in a topic the rows behind it) that may
        go now, reserved against the limits; and the topic queues waiting behind a spent
        group budget, whose texts may merge."""
        heads: dict[Destination, Queued] = {}
        queued: dict[Destination, list[Queued]] = defaultdict(list)
        blocked_chats: set[int] = set()
        first_topic_row: dict[TopicOwner, int] = {}
        for row in rows:
            if row.method == "createForumTopic" and row.purpose in (Purpose.TOPIC, Purpose.ROOM):
                # (A department's topic for a handed-off ticket holds nothing back here.)
                first_topic_row.setdefault(_topic_owner(row), row.id)
            destination = _destination(row)
            queued[destination].append(row)
            # Topic creation and topic rows share one group: keep its order strict per topic,
            # and never pass a row that is still waiting for its retry time.
            heads.setdefault(destination, row)
        next_wait = 5.0
        candidates: list[tuple[Destination, Queued]] = []
        merges: list[list[Queued]] = []
        for destination, head in sorted(heads.items(), key=lambda item: urgency(item[1])):
            if head.not_before is not None and head.not_before > now:
                next_wait = min(next_wait, (head.not_before - now).total_seconds())
                blocked_chats.add(head.chat_id)
                if head.chat_id < 0:
                    # Telegram said wait: what queues behind the head meanwhile goes as one.
                    merges.append(queued[destination])
                continue
            if head.chat_id in blocked_chats:
                continue
            topic_row = first_topic_row.get(_topic_owner(head)) if head.to_topic else None
            if topic_row is not None and topic_row < head.id:
                continue  # The ticket's topic is still being created.
            if _gathers(destination, queued[destination]):
                merges.append(queued[destination])
                next_wait = min(next_wait, 0.01)
                continue
            candidates.append((destination, head))
        limit = run_limit(self.limiter.limits)
        runs = [_run(queued[destination], first_topic_row, limit) for destination, _ in candidates]
        reserved, refused_wait = await self._reserve(runs)
        for (destination, head), run in zip(candidates, reserved, strict=True):
            if not run and head.chat_id < 0:
                merges.append(queued[destination])
        return [run for run in reserved if run], min(next_wait, refused_wait), merges

    async def _reserve(
        self, runs: list[list[Queued]]
    ) -> tuple[list[list[tuple[Queued, Reservation]]], float]:
        """Reserves the runs' rows: every head (in the order of need) before any second
        row, and so on, so a short budget still goes to each queue's head first; a run ends
        at its first row refused. Returns each run's reserved rows (none: its head was
        refused) and the wait of a refused one."""
        order = sorted(
            (depth, index) for index, run in enumerate(runs) for depth in range(len(run))
        )
        # One call (one round trip with Redis) checks and reserves every candidate, in order.
        grants = await self.limiter.reserve([runs[index][depth].chat_id for depth, index in order])
        by_place = dict(zip(order, grants, strict=True))
        to_send: list[list[tuple[Queued, Reservation]]] = []
        wait = 5.0
        for index, run in enumerate(runs):
            reserved: list[tuple[Queued, Reservation]] = []
            for depth, row in enumerate(run):
                grant = by_place[depth, index]
                if grant.reservation is None:
                    wait = min(wait, max(grant.wait, 0.05))
                elif len(reserved) == depth:
                    reserved.append((row, grant.reservation))
                else:
                    await grant.reservation.release()  # a row before it was refused
            to_send.append(reserved)
        return to_send, wait

    async def _release_untaken(
        self, reservations: dict[int, Reservation], runs: list[list[OutboxMessage]]
    ) -> None:
        """Rows another instance took meanwhile, and those queued behind them, are not sent
        here: their places are freed."""
        taken = {row.id for run in runs for row in run}
        for row_id, reservation in reservations.items():
            if row_id not in taken:
                await reservation.release()

    async def _merge(self, waiting: list[Queued]) -> None:
        """Several plain texts for one topic, behind an exhausted group budget: one message."""
        texts = [_mergeable_text(row) for row in waiting]
        run: list[Queued] = []
        for index, (row, text) in enumerate(zip(waiting, texts, strict=True)):
            # The head may be waiting out a 429; rows behind it have never been tried.
            if text is None or (index > 0 and row.not_before is not None):
                break
            run.append(row)
        if len(run) < 2:
            return
        combined: list[Queued] = []
        length = 0
        for row in run:
            text = _mergeable_text(row) or ""
            if length + len(text) + 2 > TEXT_LIMIT:
                break
            combined.append(row)
            length += len(text) + 2
        if len(combined) < 2:
            return
        async with self.write_gate, self.sessionmaker() as session:
            # Another instance's worker may be sending one of these rows right now: merge
            # only rows nobody holds and that are still pending, or not at all.
            ids = [row.id for row in combined]
            locked = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if len(locked) != len(ids):
                return
            by_id = {row.id: row for row in locked}
            chosen = [by_id[row_id] for row_id in ids]
            head = chosen[0]
            parts = [_mergeable_text(row) or "" for row in chosen]
            head.payload = {
                **{k: v for k, v in head.payload.items() if k == "message_thread_id"},
                "text": "\n\n".join(parts),
                # A head merged before keeps the rows it already carries.
                "merged_rows": [
                    *head.payload.get("merged_rows", []),
                    *(row.id for row in chosen[1:]),
                ],
            }
            head.method = "sendMessage"
            for merged in chosen[1:]:
                merged.status = OutboxStatus.MERGED
                merged.merged_into = head.id
            await session.commit()
        log.info("outbox_merged", into=combined[0].id, rows=len(combined))

    async def _deliver_all(
        self,
        session: AsyncSession,
        batch: Batch,
        restamps: dict[int, Reservation],
        runs: list[list[OutboxMessage]],
    ) -> None:
        """Sends the runs at once, each run's rows in turn; what Telegram said is recorded
        in one transaction.

        Each row is marked sent only after Telegram accepted it: a crash in between sends
        it at most once more, never zero times.
        """
        sent_runs = await asyncio.gather(*(self._send_run(batch, run, restamps) for run in runs))
        results = [outcome for sent in sent_runs for outcome in sent]
        async with self.write_gate:
            try:
                delivered: list[tuple[OutboxMessage, DeliveryReceipt]] = []
                for row, result in results:
                    if isinstance(result, DeliveryReceipt):
                        delivered.append((row, result))
                    else:
                        await self._settle(session, row, result)
                # The round's deliveries in one UPDATE per table (crm/delivery.py).
                directions = {key: message.direction for key, message in batch.messages.items()}
                await record_delivered_many(session, delivered, directions, self.clock.now)
                await session.commit()
                return
            except Exception as error:
                log.error("outbox_batch_record_failed", error=repr(error))
                await session.rollback()
        # One row's outcome could not be recorded: record each alone, so the others are not
        # sent again because of it.
        for row, result in results:
            await self._settle_alone(row.id, result)

    async def _send_run(
        self, batch: Batch, run: list[OutboxMessage], restamps: dict[int, Reservation]
    ) -> list[tuple[OutboxMessage, DeliveryReceipt | FailureReceipt | BaseException]]:
        """One queue's rows of the round, in order: each leaves only once Telegram accepted
        the one before it; after a failure the rest wait for a later round, unsent."""
        outcomes: list[tuple[OutboxMessage, DeliveryReceipt | FailureReceipt | BaseException]]
        outcomes = []
        for index, row in enumerate(run):
            outcome: DeliveryReceipt | FailureReceipt | BaseException
            try:
                outcome = await self._send(
                    row,
                    batch.places.get(row.ticket_id or 0),
                    batch.rooms.get(row.incident_id or 0) if row.to_topic else None,
                    restamps[row.id],
                    _copy_id(batch, row),
                )
            except Exception as error:
                outcome = error
            outcomes.append((row, outcome))
            if not isinstance(outcome, DeliveryReceipt):
                for unsent in run[index + 1 :]:
                    await restamps[unsent.id].release()
                break
        return outcomes

    async def _send(
        self,
        row: OutboxMessage,
        place: TicketPlace | None,
        room: int | None,
        reservation: Reservation,
        copy_id: int | None = None,
    ) -> DeliveryReceipt | FailureReceipt:
        outcome: DeliveryReceipt | FailureReceipt
        try:
            await reservation.restamp()
            outcome = receipt_of(await self._call(row, place, room, copy_id))
            result = "ok"
        except (TelegramRetryAfter, *TRANSIENT_ERRORS, *PERMANENT_ERRORS) as error:
            outcome = classify(error, row.attempts, self.backoff_seconds, self.max_backoff_seconds)
            result = send_result(error)
        finally:
            await reservation.restamp()
        self.metrics.sends.labels(method=row.method, result=result).inc()
        return outcome

    async def _settle(
        self,
        session: AsyncSession,
        row: OutboxMessage,
        result: DeliveryReceipt | FailureReceipt | BaseException,
    ) -> None:
        if isinstance(result, BaseException):
            # A bug or an unexpected error must not stop delivery for everyone: the row
            # stays pending and is retried after a pause.
            log.error("outbox_unexpected_error", row=row.id, error=repr(result))
            failure = FailureReceipt(
                Outcome.TRANSIENT, repr(result)[:2000], timedelta(seconds=self.max_backoff_seconds)
            )
            await record_failed(session, row, failure, self.clock.now)
            return
        await self._record(session, row, result)

    async def _settle_alone(
        self, row_id: int, result: DeliveryReceipt | FailureReceipt | BaseException
    ) -> None:
        try:
            async with self.write_gate, self.sessionmaker() as session:
                row = await session.get(OutboxMessage, row_id)
                if row is None or row.status is not OutboxStatus.PENDING:
                    return
                await self._settle(session, row, result)
                await session.commit()
        except Exception as error:
            log.error("outbox_unexpected_error", row=row_id, error=repr(error))
            await self._postpone(row_id, repr(error))

    async def _record(
        self, session: AsyncSession, row: OutboxMessage, outcome: DeliveryReceipt | FailureReceipt
    ) -> None:
        if isinstance(outcome, DeliveryReceipt):
            await record_delivered(session, row, outcome, self.clock.now)
            return
        notice = await record_failed(session, row, outcome, self.clock.now)
        if outcome.kind is Outcome.RETRY_AFTER:
            log.warning(
                "outbox_rate_limited", row=row.id, retry_after=outcome.retry_in.total_seconds()
            )
        elif outcome.kind is Outcome.TRANSIENT:
            log.warning("outbox_retry", row=row.id, attempt=row.attempts, error=outcome.description)
        else:
            log.error("outbox_failed", row=row.id, purpose=row.purpose, error=outcome.description)
        if notice is not None:
            Outbox(session, self.clock.now).send_message(
                notice.support_chat_id,
                self.notice_text(notice),
                purpose=Purpose.NOTICE,
                ticket_id=notice.ticket_id,
                to_topic=True,
            )
            self.kick()

    def notice_text(self, notice: DeliveryNotice) -> str:
        """The engineers' words for a delivery that failed."""

        def t(text: str) -> str:
            return self.i18n.gettext(text, locale=self.engineer_locale)

        if isinstance(notice, CopyFailed):
            text = t("⚠️ The client sent a {kind} that could not be copied here ({error}).")
            text = text.format(kind=notice.content_type, error=notice.error)
            if notice.text:
                text += "\n" + t("Text: {text}").format(text=notice.text)
            if notice.file_id:
                text += "\n" + t("File id: {file_id}").format(file_id=notice.file_id)
            return text
        return t("⚠️ Not delivered to the client: {error}").format(error=notice.error)

    async def _postpone(self, row_id: int, error: str) -> None:
        async with self.write_gate, self.sessionmaker() as session:
            row = await session.get(OutboxMessage, row_id)
            if row is not None and row.status is OutboxStatus.PENDING:
                failure = FailureReceipt(
                    Outcome.TRANSIENT, error[:2000], timedelta(seconds=self.max_backoff_seconds)
                )
                await record_failed(session, row, failure, self.clock.now)
                await session.commit()

    async def _edit_copy(self, chat_id: int, method: str, payload: dict[str, Any]) -> Any:
        try:
            if method == "editMessageCaption":
                return await self.bot.edit_message_caption(chat_id=chat_id, **payload)
            return await self.bot.edit_message_text(chat_id=chat_id, **payload)
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return True  # The copy was made after the edit and carries it already.
            raise

    async def _topic_state(self, chat_id: int, method: str, payload: dict[str, Any]) -> Any:
        """Renames, closes or reopens a ticket's topic; already so, or no topics, is done."""
        thread = payload.pop("message_thread_id", None)
        if thread is None:
            return True  # A group without topics: no topic to rename or close.
        try:
            if method == "editForumTopic":
                return await self.bot.edit_forum_topic(chat_id, thread, **payload)
            if method == "closeForumTopic":
                return await self.bot.close_forum_topic(chat_id, thread)
            return await self.bot.reopen_forum_topic(chat_id, thread)
        except TelegramBadRequest as error:
            if "TOPIC_NOT_MODIFIED" in error.message:
                return True
            raise

    async def _call(
        self, row: OutboxMessage, place: TicketPlace | None, room: int | None, copy_id: int | None
    ) -> Any:
        payload = dict(row.payload)
        payload.pop("plain_text", None)
        payload.pop("merged_rows", None)
        if payload.pop("copy_of_row", None) is not None:
            # An edit decided while its copy was on its way: the copy went first (same
            # chat, in order), so its id is known now; a copy that never arrived has none.
            if copy_id is None:
                return True
            payload["message_id"] = copy_id
            return await self._edit_copy(row.chat_id, row.method, payload)
        if room is not None:
            payload["message_thread_id"] = room
        elif (
            row.to_topic
            and row.incident_id is None
            and place is not None
            and (row.method != "createForumTopic")
        ):
            if place.topic_thread_id is not None:
                payload["message_thread_id"] = place.topic_thread_id
            elif place.header_message_id is not None and row.purpose is not Purpose.HEADER:
                # A group without topics: answers thread off the ticket's header message.
                payload["reply_to_message_id"] = place.header_message_id
        if "reply_markup" in payload:
            payload["reply_markup"] = InlineKeyboardMarkup.model_validate(payload["reply_markup"])
        chat_id = row.chat_id
        if row.method == "sendMessage":
            # Answered by the message's id and topic only (bot/telegram.py).
            return await self.bot(OutboxSendMessage(chat_id=chat_id, **payload))
        if row.method == "copyMessage":
            return await self.bot.copy_message(chat_id, **payload)
        if row.method == "editMessageText":
            return await self.bot.edit_message_text(chat_id=chat_id, **payload)
        if row.method == "editMessageCaption":
            return await self.bot.edit_message_caption(chat_id=chat_id, **payload)
        if row.method == "copyMessages":
            # An album (crm/albums.py): no reply in it; its rows are the CRM's bookkeeping.
            for key in ("message_rows", "media_group_id", "reply_to_message_id"):
                payload.pop(key, None)
            return await self.bot.copy_messages(chat_id, **payload)
        if row.method == "createForumTopic":
            return await self.bot.create_forum_topic(chat_id, **payload)
        if row.method == "setMessageReaction":
            return await self.bot.set_message_reaction(
                chat_id,
                payload["message_id"],
                reaction=[ReactionTypeEmoji(emoji=r["emoji"]) for r in payload["reaction"]],
            )
        if row.method in ("editForumTopic", "closeForumTopic", "reopenForumTopic"):
            return await self._topic_state(chat_id, row.method, payload)
        assert row.file_data is not None and row.file_name is not None
        upload = BufferedInputFile(row.file_data, filename=row.file_name)
        caption = payload.get("caption")
        if row.method == "sendDocument":
            # A mail's attachment goes into its ticket's topic (thread id, caption in payload).
            return await self.bot.send_document(chat_id, upload, **payload)
        if row.method == "sendPhoto":
            return await self.bot.send_photo(chat_id, upload, caption=caption)
        raise ValueError(f"outbox row {row.id}: unknown method {row.method}")
