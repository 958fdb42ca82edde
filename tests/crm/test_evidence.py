"""Evidence is append-only and always timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.dto import IncomingMessage, TelegramUser
from crm.models import Customer
from crm.tickets import TicketService

CLIENT = TelegramUser(id=700001, full_name="Aigerim", language_code="en")


async def open_ticket(session: AsyncSession, date: datetime) -> int:
    outcome = await TicketService(session).record_client_message(
        IncomingMessage(
            chat_id=CLIENT.id,
            message_id=1,
            sender=CLIENT,
            content_type="text",
            telegram_date=date,
            text="down",
        )
    )
    await session.commit()
    return outcome.ticket.id


async def test_ticket_events_cannot_be_edited_or_deleted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await open_ticket(session, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    for statement in ("UPDATE ticket_events SET kind = 'forged'", "DELETE FROM ticket_events"):
        async with sessionmaker() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
    async with sessionmaker() as session:
        kinds = (await session.scalars(text("SELECT kind FROM ticket_events"))).all()
    assert kinds == ["opened"]


async def test_naive_times_are_refused(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        session.add(Customer(name="x", created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_times_come_back_in_utc_whatever_offset_went_in(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    almaty_morning = datetime(2026, 11, 2, 14, 0, tzinfo=timezone(timedelta(hours=5)))
    async with sessionmaker() as session:
        ticket_id = await open_ticket(session, almaty_morning)
    async with sessionmaker() as session:
        ticket = await TicketService(session).tickets.get(ticket_id)
        event = (await TicketService(session).tickets.events(ticket_id))[0]
    assert ticket is not None
    assert event.evidence_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert ticket.opened_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert ticket.opened_at.tzinfo is UTC
