"""Hand-off to another department (terms A/B 5.3): billing, sales, legal…

`/handoff DEPARTMENT [NOTE]` in a ticket's topic posts the ticket's card and history to the
department's chat: in a topic of its own where the chat is a forum, as a post replies
thread off where it is not (a failed `createForumTopic` says which). Who handed it over and
when is a `handed_off` event. The department's answers there reach the client like the
engineers' ones; the first-response target stays support's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.dto import TelegramUser
from crm.models import Handoff, Message, OutboxMessage, Purpose, Ticket, TicketEvent
from crm.outbox import Outbox

TOPIC_NAME_LIMIT = 128


async def hand_off(
    session: AsyncSession,
    ticket: Ticket,
    *,
    department: str,
    chat_id: int,
    note: str | None,
    by: TelegramUser,
    when: datetime,
    clock: Clock = utc_now,
) -> Handoff:
    handoff = Handoff(
        ticket_id=ticket.id,
        department=department,
        chat_id=chat_id,
        summary="",
        note=note,
        by_telegram_id=by.id,
        by_name=by.full_name,
        handed_at=when,
        created_at=clock(),
    )
    session.add(handoff)
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="handed_off",
            actor_telegram_id=by.id,
            actor_name=by.full_name,
            actor_role="engineer",
            evidence_at=when,
            recorded_at=clock(),
            details={"department": department, "chat_id": chat_id, "note": note},
        )
    )
    await session.flush()
    return handoff


def queue_handoff(outbox: Outbox, handoff: Handoff, topic_name: str, summary: str) -> None:
    """The department's topic first; its card follows once the topic exists (or in the chat
    itself when it has no topics), see `handoff_delivered` and `handoff_failed`."""
    handoff.summary = summary
    row = outbox.create_topic(handoff.chat_id, topic_name[:TOPIC_NAME_LIMIT], handoff.ticket_id)
    row.purpose = Purpose.HANDOFF


async def latest_handoff(session: AsyncSession, ticket_id: int, chat_id: int) -> Handoff | None:
    return await session.scalar(
        select(Handoff)
        .where(Handoff.ticket_id == ticket_id, Handoff.chat_id == chat_id)
        .order_by(Handoff.id.desc())
        .limit(1)
    )


def _post(outbox: Outbox, handoff: Handoff, thread_id: int | None) -> None:
    outbox.send_message(
        handoff.chat_id,
        handoff.summary,
        purpose=Purpose.HANDOFF,
        thread_id=thread_id,
        ticket_id=handoff.ticket_id,
    )


async def handoff_delivered(
    session: AsyncSession, row: OutboxMessage, receipt: object, clock: Clock = utc_now
) -> None:
    """The department's topic exists: the card goes into it; the card is posted: its id
    is what replies in a chat without topics thread off."""
    if row.ticket_id is None:
        return
    handoff = await latest_handoff(session, row.ticket_id, row.chat_id)
    if handoff is None:
        return
    if row.method == "createForumTopic":
        handoff.thread_id = getattr(receipt, "thread_id", None)
        _post(Outbox(session, clock), handoff, handoff.thread_id)
    elif row.method == "sendMessage" and handoff.post_message_id is None:
        handoff.post_message_id = getattr(receipt, "message_id", None)


async def handoff_failed(session: AsyncSession, row: OutboxMessage, clock: Clock = utc_now) -> None:
    """No topics in the department's chat: the card is posted there, replies thread off it."""
    if row.ticket_id is None or row.method != "createForumTopic":
        return
    handoff = await latest_handoff(session, row.ticket_id, row.chat_id)
    if handoff is not None:
        _post(Outbox(session, clock), handoff, None)


async def ticket_in_department(
    session: AsyncSession, chat_id: int, thread_id: int | None, reply_to: int | None
) -> tuple[Ticket, Handoff] | None:
    """The ticket a message in a department's chat is about: its topic, or a reply to its
    card, to a client's message copied there or to an earlier answer."""
    handoff = None
    if thread_id is not None:
        handoff = await session.scalar(
            select(Handoff)
            .where(Handoff.chat_id == chat_id, Handoff.thread_id == thread_id)
            .order_by(Handoff.id.desc())
            .limit(1)
        )
    if handoff is None and reply_to is not None:
        handoff = await session.scalar(
            select(Handoff)
            .where(Handoff.chat_id == chat_id, Handoff.post_message_id == reply_to)
            .limit(1)
        )
        if handoff is None:
            ticket_id = await session.scalar(
                select(Message.ticket_id)
                .where(
                    or_(
                        (Message.chat_id == chat_id) & (Message.telegram_message_id == reply_to),
                        (Message.copy_chat_id == chat_id) & (Message.copy_message_id == reply_to),
                    )
                )
                .limit(1)
            )
            if ticket_id is not None:
                handoff = await latest_handoff(session, ticket_id, chat_id)
    if handoff is None:
        return None
    ticket = await session.get(Ticket, handoff.ticket_id)
    return None if ticket is None else (ticket, handoff)


async def handed_off_ticket_ids(session: AsyncSession, ticket_ids: list[int]) -> set[int]:
    """Which of these tickets were handed to another department (for the report)."""
    if not ticket_ids:
        return set()
    found = await session.scalars(
        select(Handoff.ticket_id).where(Handoff.ticket_id.in_(ticket_ids)).distinct()
    )
    return set(found)
