"""The outbox: messages to send, queued in the same transaction as their cause."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Executable, Table, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.models import OutboxMessage, OutboxStatus, Purpose

# The method of a job row: built by the bot's report builder, never sent as such.
REPORT_REQUEST = "sendReport"
# An e-mail answer: a job row too, sent by the desk's SMTP sender (bot/mailer.py).
EMAIL_SEND = "sendEmail"


@dataclass(frozen=True, slots=True)
class Queued:
    """What the worker needs to choose a row: no ORM object, no payload unless asked for."""

    id: int
    chat_id: int
    method: str
    ticket_id: int | None
    to_topic: bool
    not_before: datetime | None
    incident_id: int | None
    purpose: Purpose
    payload: dict[str, Any] | None = None


_QUEUED = (
    OutboxMessage.id,
    OutboxMessage.chat_id,
    OutboxMessage.method,
    OutboxMessage.ticket_id,
    OutboxMessage.to_topic,
    OutboxMessage.not_before,
    OutboxMessage.incident_id,
    OutboxMessage.purpose,
)


def _queued(row: Any) -> Queued:
    return Queued(*row)


class QueuedRow(Protocol):
    """A row just queued, as its caller may still adjust it before it is written: an ORM
    `OutboxMessage`, or a `GatheredRow` of an `Outbox(gather=True)`."""

    purpose: Purpose
    payload: dict[str, Any]
    not_before: datetime | None
    message_row_id: int | None


@dataclass(slots=True)
class GatheredRow:
    """A row of an `Outbox(gather=True)`: its columns, written later by `write_gathered`.

    Not an ORM object, which costs some 20 µs to build; and it has no id until written."""

    chat_id: int
    method: str
    purpose: Purpose
    payload: dict[str, Any]
    ticket_id: int | None
    incident_id: int | None
    to_topic: bool
    message_row_id: int | None
    file_name: str | None
    file_data: bytes | None
    status: OutboxStatus
    attempts: int
    created_at: datetime
    not_before: datetime | None = None

    def values(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in _GATHERED_COLUMNS}


_GATHERED_COLUMNS = tuple(column.name for column in fields(GatheredRow))


class Outbox:
    """`gather=True`: rows are kept until `write_gathered` inserts them all with one
    executemany (an update's rows as it ends, a polled batch's follow-ups), instead of one
    ORM object each in the session's next flush. The rows and their order are the same
    either way; but a query in between does not see them (none of an update's does)."""

    def __init__(
        self, session: AsyncSession, clock: Clock = utc_now, *, gather: bool = False
    ) -> None:
        self.session = session
        self.clock = clock
        self._gathered: list[GatheredRow] | None = [] if gather else None

    def _add(
        self,
        chat_id: int,
        method: str,
        purpose: Purpose,
        payload: dict[str, Any],
        *,
        ticket_id: int | None = None,
        incident_id: int | None = None,
        to_topic: bool = False,
        message_row_id: int | None = None,
        file_name: str | None = None,
        file_data: bytes | None = None,
    ) -> QueuedRow:
        values: dict[str, Any] = {
            "chat_id": chat_id,
            "method": method,
            "purpose": purpose,
            "payload": {k: v for k, v in payload.items() if v is not None},
            "ticket_id": ticket_id,
            "incident_id": incident_id,
            "to_topic": to_topic,
            "message_row_id": message_row_id,
            "file_name": file_name,
            "file_data": file_data,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "created_at": self.clock(),
        }
        if self._gathered is not None:
            gathered = GatheredRow(**values)
            self._gathered.append(gathered)
            return gathered
        row = OutboxMessage(**values)
        self.session.add(row)
        return row

    async def write_gathered(self) -> None:
        """Inserts the gathered rows in the order they were queued (ids follow it)."""
        if not self._gathered:
            return
        # Read at write time, not at `_add`: a caller may change a row's payload meanwhile.
        rows = [row.values() for row in self._gathered]
        self._gathered = []
        await self.session.execute(insert(cast(Table, OutboxMessage.__table__)), rows)

    def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        purpose: Purpose,
        reply_markup: dict[str, Any] | None = None,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        ticket_id: int | None = None,
        incident_id: int | None = None,
        to_topic: bool = False,
        message_row_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> QueuedRow:
        """`to_topic` with `ticket_id` posts in the ticket's topic, with `incident_id` in
        the incident's room, once the topic exists (the worker keeps that order)."""
        return self._add(
            chat_id,
            "sendMessage",
            purpose,
            {
                "text": text,
                "reply_markup": reply_markup,
                "message_thread_id": thread_id,
                "reply_to_message_id": reply_to_message_id,
                "entities": entities,
            },
            ticket_id=ticket_id,
            incident_id=incident_id,
            to_topic=to_topic,
            message_row_id=message_row_id,
        )

    def copy_message(
        self,
        chat_id: int,
        from_chat_id: int,
        message_id: int,
        *,
        purpose: Purpose,
        message_row_id: int,
        ticket_id: int | None = None,
        incident_id: int | None = None,
        to_topic: bool = False,
        plain_text: str | None = None,
    ) -> QueuedRow:
        # `plain_text` is set for text-only messages: those copies may be merged when a
        # group's rate budget runs out.
        return self._add(
            chat_id,
            "copyMessage",
            purpose,
            {"from_chat_id": from_chat_id, "message_id": message_id, "plain_text": plain_text},
            ticket_id=ticket_id,
            incident_id=incident_id,
            to_topic=to_topic,
            message_row_id=message_row_id,
        )

    def copy_messages(
        self,
        chat_id: int,
        from_chat_id: int,
        message_ids: list[int],
        *,
        purpose: Purpose,
        message_rows: list[int],
        ticket_id: int,
        to_topic: bool,
        media_group_id: str | None,
        remove_caption: bool,
        incident_id: int | None = None,
    ) -> QueuedRow:
        """An album copied as one (crm/albums.py adds its later parts to the payload); also
        one media message whose caption is too long to copy (`remove_caption`)."""
        return self._add(
            chat_id,
            "copyMessages",
            purpose,
            {
                "from_chat_id": from_chat_id,
                "message_ids": message_ids,
                "message_rows": message_rows,
                "media_group_id": media_group_id,
                "remove_caption": remove_caption or None,
            },
            ticket_id=ticket_id,
            incident_id=incident_id,
            to_topic=to_topic,
            message_row_id=message_rows[0],
        )

    def edit_message_caption(
        self, chat_id: int, message_id: int, caption: str, *, ticket_id: int | None = None
    ) -> QueuedRow:
        """Edits the caption of a media message the bot sent (a copy, say)."""
        return self._add(
            chat_id,
            "editMessageCaption",
            Purpose.EDIT,
            {"message_id": message_id, "caption": caption},
            ticket_id=ticket_id,
        )

    def edit_copy_on_its_way(
        self, chat_id: int, message_row_id: int, ticket_id: int, *, text: str, caption: bool
    ) -> QueuedRow:
        """Edits the copy of message `message_row_id` whose id Telegram has not given yet
        (an edit that came while the copy was being sent): the worker reads the copy's id
        when this row's turn comes, after the copy's, in the same chat."""
        method, key = ("editMessageCaption", "caption") if caption else ("editMessageText", "text")
        return self._add(
            chat_id, method, Purpose.EDIT, {"copy_of_row": message_row_id, key: text},
            ticket_id=ticket_id,
        )  # fmt: skip

    def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        reply_markup: dict[str, Any] | None = None,
        ticket_id: int | None = None,
    ) -> QueuedRow:
        """Edits a message the bot sent before (an answered button, say): like any send,
        it leaves after the transaction that decided it has committed."""
        return self._add(
            chat_id,
            "editMessageText",
            Purpose.EDIT,
            {"message_id": message_id, "text": text, "reply_markup": reply_markup},
            ticket_id=ticket_id,
        )

    def create_topic(self, chat_id: int, name: str, ticket_id: int) -> QueuedRow:
        return self._add(
            chat_id, "createForumTopic", Purpose.TOPIC, {"name": name}, ticket_id=ticket_id
        )

    def create_room(self, chat_id: int, name: str, incident_id: int) -> QueuedRow:
        """The incident's own forum topic: its notices and commands gather there."""
        return self._add(
            chat_id, "createForumTopic", Purpose.ROOM, {"name": name}, incident_id=incident_id
        )

    def rename_topic(self, chat_id: int, name: str, ticket_id: int) -> QueuedRow:
        return self._add(
            chat_id,
            "editForumTopic",
            Purpose.TOPIC_NAME,
            {"name": name},
            ticket_id=ticket_id,
            to_topic=True,
        )

    def rename_room(self, chat_id: int, name: str, incident_id: int) -> QueuedRow:
        return self._add(
            chat_id,
            "editForumTopic",
            Purpose.TOPIC_NAME,
            {"name": name},
            incident_id=incident_id,
            to_topic=True,
        )

    def send_file(
        self,
        chat_id: int,
        method: str,
        file_name: str,
        data: bytes,
        *,
        purpose: Purpose,
        caption: str | None = None,
    ) -> QueuedRow:
        payload = {} if caption is None else {"caption": caption}
        return self._add(chat_id, method, purpose, payload, file_name=file_name, file_data=data)

    def send_email(self, mail: dict[str, Any], *, ticket_id: int, message_row_id: int) -> QueuedRow:
        """An engineer's answer to send by SMTP; chat 0: it goes to no Telegram chat."""
        return self._add(
            0,
            EMAIL_SEND,
            Purpose.EMAIL_OUT,
            mail,
            ticket_id=ticket_id,
            message_row_id=message_row_id,
        )

    def send_ticket_file(
        self, chat_id: int, ticket_id: int, file_name: str, data: bytes, caption: str | None = None
    ) -> QueuedRow:
        """A file (a mail's attachment) as a document in the ticket's topic."""
        return self._add(
            chat_id,
            "sendDocument",
            Purpose.NOTICE,
            {"caption": caption},
            ticket_id=ticket_id,
            to_topic=True,
            file_name=file_name[:200],
            file_data=data,
        )

    def request_report(
        self, chat_id: int, month: str, customer_id: int | None = None, locale: str | None = None
    ) -> QueuedRow:
        """A report to build and send later: asking is cheap, building is not (bot/reports.py).

        A job row, not a message: the worker hands it to its builder instead of Telegram.
        """
        return self._add(
            chat_id,
            REPORT_REQUEST,
            Purpose.REPORT,
            {"month": month, "customer_id": customer_id, "locale": locale},
        )

    async def claim(self, row_id: int, now: datetime, lease: timedelta) -> int | None:
        """Takes a pending job row until `now + lease`; returns the claim's token for
        `complete`, or None when it is done or another instance holds it.

        A lease rather than a lock: nothing stays open while the job runs, and a claim
        lost in a crash simply runs out, so the job is done after the restart.
        """
        claimed = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
            )
            .values(attempts=OutboxMessage.attempts + 1, not_before=now + lease)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await self.session.scalar(
            select(OutboxMessage.attempts).where(OutboxMessage.id == row_id)
        )

    async def complete(self, row_id: int, token: int, now: datetime) -> bool:
        """Marks a claimed job done, unless its lease ran out and someone claimed it since:
        then the caller rolls back what it queued, and the job's result goes out once."""
        done = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.attempts == token,
            )
            .values(status=OutboxStatus.SENT, sent_at=now, not_before=None, error=None)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    async def release(self, row_id: int, token: int, error: str, retry_at: datetime) -> None:
        """A claimed job failed unexpectedly: it is tried again at `retry_at`."""
        await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.attempts == token,
            )
            .values(not_before=retry_at, error=error[:2000])
            .execution_options(synchronize_session=False)
        )

    async def chat_heads(self, skip_methods: Collection[str]) -> list[Queued]:
        """The oldest pending row of every chat with one, oldest first.

        A loose index scan on (status, chat_id, id): one index step per chat to find the
        next chat, one more for its first row, so the cost follows the chats waiting, never
        how many rows queue behind each (a burst's backlog).
        """
        result = await self.session.execute(_chat_heads_query(frozenset(skip_methods)))
        return [_queued(row) for row in result]

    async def ticket_sends_unrecorded(self, chat_id: int) -> bool:
        """Whether a ticket's send to the chat is still pending: Telegram may already show
        it (a header, a copy) while the desk has not recorded its message id.

        By index, over the chat's pending rows only."""
        pending = await self.session.scalar(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.ticket_id.is_not(None),
            )
            .limit(1)
        )
        return pending is not None

    async def queued_in(
        self, chat_id: int, skip_methods: Collection[str], limit: int
    ) -> list[Queued]:
        """The first `limit` pending rows of one chat, with their payloads (by index)."""
        result = await self.session.execute(
            select(*_QUEUED, OutboxMessage.payload)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.method.not_in(skip_methods),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return [_queued(row) for row in result]

    async def sent_since(
        self, chat_id: int, since: datetime, look_back: int = 1000
    ) -> list[datetime]:
        """When messages to a chat were sent from `since` on (a restart's rate budget).

        By the (status, chat_id, id) index: the chat's last `look_back` sent rows, newest
        first; a row sent just now but queued before all of those is a rare miss.
        """
        latest = (
            select(OutboxMessage.sent_at)
            .where(
                OutboxMessage.status == OutboxStatus.SENT,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.method.not_in((REPORT_REQUEST, EMAIL_SEND)),
            )
            .order_by(OutboxMessage.id.desc())
            .limit(look_back)
            .subquery()
        )
        found = await self.session.scalars(
            select(latest.c.sent_at).where(latest.c.sent_at >= since)
        )
        return [at for at in found if at is not None]

    async def pending_jobs(self, methods: Collection[str], limit: int = 100) -> list[Queued]:
        """Pending job rows (reports to build), by the (status, method) index."""
        if not methods:
            return []
        result = await self.session.execute(
            select(*_QUEUED)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.method.in_(methods))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return [_queued(row) for row in result]

    async def pending(self, limit: int = 1000) -> Sequence[OutboxMessage]:
        return (
            await self.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        ).all()

    def set_reaction(self, chat_id: int, message_id: int, emoji: str) -> QueuedRow:
        """A reaction on someone's message (a note kept internal, say)."""
        return self._add(
            chat_id,
            "setMessageReaction",
            Purpose.EDIT,
            {"message_id": message_id, "reaction": [{"type": "emoji", "emoji": emoji}]},
        )

    def close_topic(self, chat_id: int, ticket_id: int) -> QueuedRow:
        """The ticket's topic closed; in a group without topics, nothing to do."""
        return self._add(
            chat_id, "closeForumTopic", Purpose.TOPIC_NAME, {}, ticket_id=ticket_id, to_topic=True
        )

    def reopen_topic(self, chat_id: int, ticket_id: int) -> QueuedRow:
        return self._add(
            chat_id, "reopenForumTopic", Purpose.TOPIC_NAME, {}, ticket_id=ticket_id, to_topic=True
        )


@functools.lru_cache(maxsize=8)
def _chat_heads_query(skip_methods: frozenset[str]) -> Executable:
    """`Outbox.chat_heads`'s statement, built once per set of skipped methods: its aliases
    and recursive CTE cost more to build than the query costs to run, on every pass of
    the worker."""
    skipped = sorted(skip_methods)

    def pending(rows: Any) -> tuple[Any, ...]:
        return rows.c.status == OutboxStatus.PENDING, rows.c.method.not_in(skipped)

    table = OutboxMessage.__table__.alias("o")
    chats_cte = (select(func.min(table.c.chat_id).label("chat_id")).where(*pending(table))).cte(
        "chats", recursive=True
    )
    step = table.alias("step")
    following = (
        select(func.min(step.c.chat_id))
        .where(*pending(step), step.c.chat_id > chats_cte.c.chat_id)
        .scalar_subquery()
    )
    chats_cte = chats_cte.union_all(select(following).where(chats_cte.c.chat_id.is_not(None)))
    first = table.alias("first")
    head_id = (
        select(func.min(first.c.id))
        .where(*pending(first), first.c.chat_id == chats_cte.c.chat_id)
        .scalar_subquery()
    )
    heads = select(head_id.label("head_id")).where(chats_cte.c.chat_id.is_not(None)).subquery()
    return (
        select(*_QUEUED).join(heads, OutboxMessage.id == heads.c.head_id).order_by(OutboxMessage.id)
    )
