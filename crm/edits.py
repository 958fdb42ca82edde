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
from crm.models import Message, Ticket, TicketEvent
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
    repository = TicketRepository(session)
    message = await repository.message(edited.chat_id, edited.message_id)
    if message is None:
        return None
    old = await current_text(session, message)
    if old == edited.text:
        return None
    ticket = await repository.get(message.ticket_id)
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
