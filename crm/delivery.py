"""What a delivery means: the effects of a sent or failed outbox row.

The worker (bot/outbox.py) talks to Telegram and classifies what happened; the facts that
follow are the CRM's: a thread id becomes the ticket's topic, an engineer's copy reaching
the client is the first response (the key SLA fact), a failed copy is a notice for the
engineers. Deciding them here keeps them testable without Telegram and in one transaction
with the row's own status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from crm.albums import record_album_delivered, record_album_failed
from crm.clock import Clock, utc_now
from crm.handoff import handoff_delivered, handoff_failed
from crm.models import (
    Delivery,
    Direction,
    Incident,
    Message,
    OutboxMessage,
    OutboxStatus,
    Purpose,
    Ticket,
)
from crm.tickets import TicketService


class Outcome(enum.StrEnum):
    """What Telegram made of one send."""

    SENT = "sent"
    RETRY_AFTER = "retry_after"  # 429: wait as long as Telegram says
    TRANSIENT = "transient"  # 5xx or the network: back off and retry, without end
    PERMANENT = "permanent"  # 400, 403, 404: retrying cannot help


@dataclass(frozen=True)
class DeliveryReceipt:
    """Telegram accepted the row: the ids it gave back (None for edits and renames)."""

    message_id: int | None = None
    thread_id: int | None = None
    # copyMessages: one copy per source message, in order.
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FailureReceipt:
    kind: Outcome
    description: str
    # How long to wait before the next attempt (retry-after and transient outcomes only).
    retry_in: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.kind is Outcome.SENT:
            raise ValueError("a failure receipt cannot say the row was sent")


@dataclass(frozen=True)
class CopyFailed:
    """A client's message could not be copied into the topic: the engineers see what it was."""

    ticket_id: int
    support_chat_id: int
    content_type: str
    text: str | None
    file_id: str | None
    error: str


@dataclass(frozen=True)
class NotDeliveredToClient:
    """An engineer's answer never reached the client."""

    ticket_id: int
    support_chat_id: int
    error: str


DeliveryNotice = CopyFailed | NotDeliveredToClient


@dataclass(frozen=True, slots=True)
class TicketPlace:
    """Where a ticket's rows go in the support group: all a send reads of its ticket."""

    topic_thread_id: int | None
    header_message_id: int | None


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """What a round reads of a row's message: who wrote it (an engineer's answer may be
    the first response) and its copy's id (for an edit of a copy that was on its way)."""

    ticket_id: int
    direction: Direction
    copy_message_id: int | None


@dataclass
class Batch:
    """Rows taken for one round of sends, with what sending and recording them read.

    Tickets and messages are read as the few columns the sends need, not as ORM objects
    with their eager relations (a ticket's contact, customer, service, the customer's
    services): that cost more than the sends. `held`: the tickets and messages whose
    delivery is recorded through the ORM (a topic, a header, an engineer's answer, an
    album, merged rows), kept so the session's identity map spares a query per row.
    """

    rows: list[OutboxMessage]
    places: dict[int, TicketPlace]
    messages: dict[int, BatchMessage]
    # Each incident's room thread (None: not created, or a group without topics).
    rooms: dict[int, int | None] = field(default_factory=dict)
    held: list[object] = field(default_factory=list)


# The rows whose delivery touches more than the row and its message's copy.
_SPECIAL_PURPOSES = frozenset({Purpose.ROOM, Purpose.TOPIC, Purpose.HEADER, Purpose.HANDOFF})
# The rows whose delivery writes their ticket's topic or header.
_PLACING_PURPOSES = frozenset({Purpose.TOPIC, Purpose.HEADER})


def recorded_whole(row: OutboxMessage) -> bool:
    """A delivery `record_delivered` writes through the ORM, not `record_delivered_many`'s
    statements: a topic, a header, a room, a handoff, an album, merged rows."""
    return (
        row.purpose in _SPECIAL_PURPOSES
        or row.method == "copyMessages"
        or bool(row.payload.get("merged_rows"))
    )


async def take_rows(session: AsyncSession, row_ids: list[int]) -> Batch:
    """The rows still pending among `row_ids`, in id order, locked for this transaction.

    Several instances may run a worker: the row locks (held across the sends on
    PostgreSQL) make the others skip these rows, and, as each heads its chat, those behind.
    """
    rows = list(
        (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id.in_(row_ids), OutboxMessage.status == OutboxStatus.PENDING)
                .order_by(OutboxMessage.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    ticket_ids = {row.ticket_id for row in rows if row.ticket_id}
    places: dict[int, TicketPlace] = {}
    if ticket_ids:
        found = await session.execute(
            select(Ticket.id, Ticket.topic_thread_id, Ticket.header_message_id).where(
                Ticket.id.in_(ticket_ids)
            )
        )
        places = {ticket_id: TicketPlace(thread, header) for ticket_id, thread, header in found}
    message_ids = {row.message_row_id for row in rows if row.message_row_id}
    # An edit of a copy that was on its way names the copy's message (its id is read now).
    message_ids |= {row.payload["copy_of_row"] for row in rows if "copy_of_row" in row.payload}
    messages: dict[int, BatchMessage] = {}
    if message_ids:
        found_messages = await session.execute(
            select(Message.id, Message.ticket_id, Message.direction, Message.copy_message_id)
            .where(Message.id.in_(message_ids))
        )  # fmt: skip
        messages = {
            row_id: BatchMessage(ticket_id, direction, copy_id)
            for row_id, ticket_id, direction, copy_id in found_messages
        }
    incident_ids = {row.incident_id for row in rows if row.incident_id and row.to_topic}
    rooms: dict[int, int | None] = {}
    if incident_ids:
        found_rooms = await session.execute(
            select(Incident.id, Incident.room_thread_id).where(Incident.id.in_(incident_ids))
        )
        rooms = {incident_id: thread for incident_id, thread in found_rooms}
    held = await _hold_for_recording(session, rows, messages)
    return Batch(rows, places, messages, rooms, held)


async def _hold_for_recording(
    session: AsyncSession, rows: list[OutboxMessage], messages: Mapping[int, BatchMessage]
) -> list[object]:
    """The ORM objects that recording the rows' deliveries reads and writes, in one query
    per table: the messages of rows recorded whole and of engineers' answers, the tickets
    of those answers (the first response) and of topics and headers. Their relations are
    not loaded: recording a delivery writes the ticket's own columns only."""
    message_ids = {
        row.message_row_id
        for row in rows
        if row.message_row_id
        and row.message_row_id in messages
        and (recorded_whole(row) or messages[row.message_row_id].direction is Direction.TO_CLIENT)
    }
    ticket_ids = {
        row.ticket_id for row in rows if row.ticket_id and row.purpose in _PLACING_PURPOSES
    }
    ticket_ids |= {
        messages[message_id].ticket_id
        for message_id in message_ids
        if messages[message_id].direction is Direction.TO_CLIENT
    }
    held: list[object] = []
    if message_ids:
        held += (await session.scalars(select(Message).where(Message.id.in_(message_ids)))).all()
    if ticket_ids:
        held += (
            await session.scalars(
                select(Ticket).where(Ticket.id.in_(ticket_ids)).options(raiseload("*"))
            )
        ).all()
    return held


async def record_delivered(
    session: AsyncSession,
    row: OutboxMessage,
    receipt: DeliveryReceipt,
    clock: Clock = utc_now,
) -> None:
    row.attempts += 1
    row.status = OutboxStatus.SENT
    row.sent_at = clock()
    row.error = None
    row.not_before = None
    row.telegram_message_id = receipt.message_id
    if row.purpose is Purpose.ROOM and row.incident_id is not None:
        incident = await session.get(Incident, row.incident_id)
        if incident is not None:
            incident.room_thread_id = receipt.thread_id
    placing = row.ticket_id and row.purpose in _PLACING_PURPOSES
    ticket = await session.get(Ticket, row.ticket_id) if placing else None
    if ticket is not None and row.purpose is Purpose.TOPIC:
        ticket.topic_thread_id = receipt.thread_id
    elif ticket is not None and row.purpose is Purpose.HEADER:
        ticket.header_message_id = receipt.message_id
    if row.purpose is Purpose.HANDOFF:
        await handoff_delivered(session, row, receipt, clock)
    if receipt.message_id is None:
        return
    if row.method == "copyMessages":
        await record_album_delivered(TicketService(session, clock=clock), row, receipt.message_ids)
        return
    message_ids = [row.message_row_id] if row.message_row_id else []
    if row.payload.get("merged_rows"):
        # One Telegram message carries several queued copies: each of them arrived.
        merged = await session.scalars(
            select(OutboxMessage.message_row_id)
            .where(OutboxMessage.id.in_(row.payload["merged_rows"]))
            .order_by(OutboxMessage.id)
        )
        message_ids += [m for m in merged if m]
    tickets = TicketService(session, clock=clock)
    for message_row_id in message_ids:
        # Flushed with the caller's next query or its commit: a round of sends is written
        # in one UPDATE per table, not two statements per row.
        await tickets.mark_delivered(message_row_id, row.chat_id, receipt.message_id, flush=False)


# What a delivered row that is only a message (no topic, header, room, handoff, album or
# merged rows) writes: its own status, and its message's copy when the message is a client's.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_MESSAGES = cast(Table, Message.__table__)
_SENT_ROW = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        attempts=bindparam("new_attempts"),
        status=OutboxStatus.SENT,
        sent_at=bindparam("new_sent_at"),
        error=None,
        not_before=None,
        telegram_message_id=bindparam("new_telegram_message_id"),
    )
)
_DELIVERED_COPY = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_row_id"))
    .values(
        copy_chat_id=bindparam("new_copy_chat_id"),
        copy_message_id=bindparam("new_copy_message_id"),
        delivery=Delivery.DELIVERED,
        delivered_at=bindparam("new_delivered_at"),
        delivery_error=None,
    )
)


async def record_delivered_many(
    session: AsyncSession,
    delivered: Sequence[tuple[OutboxMessage, DeliveryReceipt]],
    directions: Mapping[int, Direction],
    clock: Clock = utc_now,
) -> None:
    """`record_delivered` for a round of sends, in the caller's transaction.

    The rows that are only a message, and the copies they made (of a client's message, of
    the bot's words), are written by one UPDATE per table (executemany) instead of an ORM
    object each; a row with more to it (a topic, a header, a room, a handoff, an album,
    merged rows) and an engineer's answer (possibly the first response, an event of the
    evidence) go through `record_delivered` and `mark_delivered` as before. `directions`:
    who wrote each of the batch's messages, by id. The ORM objects of the rows written
    here are not updated: the caller commits and drops them.
    """
    now = clock()
    rows: list[dict[str, object]] = []
    copies: list[dict[str, object]] = []
    tickets = TicketService(session, clock=clock)
    for row, receipt in delivered:
        if recorded_whole(row):
            await record_delivered(session, row, receipt, clock)
            continue
        rows.append(
            {
                "row_id": row.id,
                "new_attempts": row.attempts + 1,
                "new_sent_at": now,
                "new_telegram_message_id": receipt.message_id,
            }
        )
        if receipt.message_id is None or not row.message_row_id:
            continue
        direction = directions.get(row.message_row_id)
        if direction is None or direction is Direction.TO_CLIENT:
            await tickets.mark_delivered(
                row.message_row_id, row.chat_id, receipt.message_id, flush=False
            )
            continue
        copies.append(
            {
                "message_row_id": row.message_row_id,
                "new_copy_chat_id": row.chat_id,
                "new_copy_message_id": receipt.message_id,
                "new_delivered_at": now,
            }
        )
    if rows:
        await session.execute(_SENT_ROW, rows)
    if copies:
        await session.execute(_DELIVERED_COPY, copies)


async def record_failed(
    session: AsyncSession,
    row: OutboxMessage,
    failure: FailureReceipt,
    clock: Clock = utc_now,
) -> DeliveryNotice | None:
    """Records the attempt; a permanent failure of a copy returns what the engineers
    must be told (the caller words it in their language and queues it in this session)."""
    row.attempts += 1
    row.error = failure.description
    if failure.kind is not Outcome.PERMANENT:
        row.not_before = clock() + failure.retry_in
        return None
    row.status = OutboxStatus.FAILED
    if row.purpose is Purpose.HANDOFF:
        await handoff_failed(session, row, clock)
        return None
    if row.method == "copyMessages":
        await record_album_failed(TicketService(session, clock=clock), row, failure.description)
    # A failed topic means a group without topics: the ticket lives in the plain group.
    if row.purpose in (Purpose.TOPIC, Purpose.ROOM) or row.message_row_id is None:
        return None
    message = await TicketService(session, clock=clock).mark_failed(
        row.message_row_id, failure.description
    )
    if row.purpose not in (Purpose.COPY_IN, Purpose.COPY_OUT):
        return None
    ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id else None
    if ticket is None or ticket.support_chat_id is None:
        return None
    if row.purpose is Purpose.COPY_IN:
        return CopyFailed(
            ticket_id=ticket.id,
            support_chat_id=ticket.support_chat_id,
            content_type=message.content_type,
            text=message.text,
            file_id=message.file_ids[0] if message.file_ids else None,
            error=failure.description,
        )
    return NotDeliveredToClient(
        ticket_id=ticket.id, support_chat_id=ticket.support_chat_id, error=failure.description
    )
