"""What a client's message does, and who must be told about it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm.tickets import TicketService
from crm.usecases.client_wrote import client_wrote
from crm.usecases.notices import (
    ClientMessageRecorded,
    ClientStillWaiting,
    Outcome,
    TicketOpened,
    TicketReopened,
)
from crm.usecases.ticket_commands import resolve_ticket
from tests.crm.usecase_fixtures import ENGINEER, NINE, said
from tests.db import rows


async def test_a_first_message_opens_a_ticket_promising_the_bots_response_target(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    outcome = await client_wrote(tickets, said("Our server does not answer"))
    await session.commit()

    opened, copied = outcome.notices
    assert opened == TicketOpened(outcome.ticket, 10.0)  # type: ignore[arg-type]
    assert isinstance(copied, ClientMessageRecorded)
    assert copied.message.text == "Our server does not answer"
    assert rows(database_url, "select id, status from tickets") == [(1, "open")]


async def test_writing_again_before_an_answer_tells_the_engineers_how_long_the_client_waits(
    tickets: TicketService,
) -> None:
    await client_wrote(tickets, said("hello"))
    outcome = await client_wrote(tickets, said("anyone?", minutes_after_nine=7))

    assert [type(n) for n in outcome.notices] == [ClientMessageRecorded, ClientStillWaiting]
    waiting = outcome.notices[-1]
    assert isinstance(waiting, ClientStillWaiting) and waiting.waited_minutes == 7


async def test_a_message_received_twice_is_recorded_once_and_tells_nobody(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await client_wrote(tickets, said("hello", message_id=41))
    again = await client_wrote(tickets, said("hello", message_id=41))
    await session.commit()

    assert again == Outcome()
    assert rows(database_url, "select count(*) from messages") == [(1,)]


async def test_a_message_on_a_resolved_ticket_reopens_it_instead_of_opening_another(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    first = await client_wrote(tickets, said("down"))
    assert first.ticket is not None
    await resolve_ticket(tickets, first.ticket, ENGINEER, NINE)
    outcome = await client_wrote(tickets, said("down again", minutes_after_nine=60))
    await session.commit()

    assert outcome.notices[0] == TicketReopened(outcome.ticket, by="client")  # type: ignore[arg-type]
    assert rows(database_url, "select id, status from tickets") == [(1, "open")]
