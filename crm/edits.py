"""Edited messages: an edit never rewrites the message row (it is evidence, hash-chained);
each edit is an append-only `client_edited` / `engineer_edited` ticket event with the text
before and after and Telegram's own edit time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.dto import IncomingMessage
from crm.models import Direction, Message, RoomAnswer, Ticket, TicketEvent
from crm.repositories import TicketRepository

EDIT_KINDS = ("client_edited", "engineer_edited")


@dataclass(frozen=True, slots=True)
class RecordedEdit:
    ticket: Ticket
    message: Message
    old_text: str | None
    new_text: str | None
    edited_at: datetime


async def current_text(session: AsyncSession, message: Message) -> str | None:
    """The message's text as its last recorded edit left it (its own text if never edited)."""
    events = await session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == message.ticket_id, TicketEvent.kind.in_(EDIT_KINDS))
        .order_by(TicketEvent.id.desc())
    )
    for event in events:
        if event.details.get("message_row") == message.id:
            new = event.details.get("new")
            return str(new) if new is not None else None
    return message.text


async def record_edit(
    session: AsyncSession,
    edited: IncomingMessage,
    edited_at: datetime,
    role: str,
    clock: Clock = utc_now,
) -> RecordedEdit | None:
    """Records an edit of a message the desk knows; None when it is unknown or unchanged
    (Telegram also reports edits that change nothing a reader sees, like a link preview)."""
    message = await TicketRepository(session).message(edited.chat_id, edited.message_id)
    if message is None:
        return None
    return await _record(session, message, edited, edited_at, role, clock)


async def record_room_answer_edits(
    session: AsyncSession, edited: IncomingMessage, edited_at: datetime, clock: Clock = utc_now
) -> list[RecordedEdit]:
    """An engineer edited their answer in an outage's room: an edit of each reporter's copy.

    The room answer's rows have no chat of their own (crm/room_answers.py): one Telegram
    message of the support group, many tickets; its message id is unique in that group.
    """
    answered = await session.scalar(
        select(RoomAnswer.id).where(
            RoomAnswer.chat_id == edited.chat_id,
            RoomAnswer.telegram_message_id == edited.message_id,
        )
    )
    if answered is None:
        return []
    copies = await session.scalars(
        select(Message)
        .where(
            Message.chat_id.is_(None),
            Message.telegram_message_id == edited.message_id,
            Message.direction == Direction.TO_CLIENT,
        )
        .order_by(Message.id)
    )
    recorded = [
        await _record(session, message, edited, edited_at, "engineer", clock)
        for message in copies.all()
    ]
    return [edit for edit in recorded if edit is not None]


async def _record(
    session: AsyncSession,
    message: Message,
    edited: IncomingMessage,
    edited_at: datetime,
    role: str,
    clock: Clock,
) -> RecordedEdit | None:
    old = await current_text(session, message)
    if old == edited.text:
        return None
    ticket = await TicketRepository(session).get(message.ticket_id)
    assert ticket is not None
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind=f"{role}_edited",
            actor_telegram_id=edited.sender.id,
            actor_name=edited.sender.full_name,
            actor_role=role,
            evidence_at=edited_at,
            recorded_at=clock(),
            details={
                "message_row": message.id,
                "telegram_message_id": edited.message_id,
                "old": old,
                "new": edited.text,
                "update_id": edited.update_id,
            },
        )
    )
    await session.flush()
    return RecordedEdit(ticket, message, old, edited.text, edited_at)
