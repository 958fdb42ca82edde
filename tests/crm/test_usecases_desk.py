"""Engineers' ticket commands, offline requests and managers' switches: outcomes as rules."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.emergencies import EmergencyService
from crm.models import Channel
from crm.tickets import TicketService
from crm.usecases.client_ticket import close_ticket, owned_ticket, rate_ticket
from crm.usecases.client_wrote import client_wrote
from crm.usecases.emergency import declare_emergency, end_emergency
from crm.usecases.notices import (
    EmergencyDeclared,
    EmergencyEnded,
    NoEmergency,
    NoOpenTicket,
    RatingRefused,
    TicketNotOpen,
    TicketRated,
    TicketResolved,
    UnknownCustomer,
)
from crm.usecases.offline_request import OfflineRequest, log_offline_request
from crm.usecases.ticket_commands import resolve_ticket
from sla.config import SlaConfig
from tests.crm.usecase_fixtures import CLIENT, ENGINEER, NINE, said
from tests.db import rows


async def test_resolving_twice_says_the_ticket_is_not_open_and_records_one_resolution(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    wrote = await client_wrote(tickets, said("help"))
    assert wrote.ticket is not None
    first = await resolve_ticket(tickets, wrote.ticket, ENGINEER, NINE)
    second = await resolve_ticket(tickets, wrote.ticket, ENGINEER, NINE)
    await session.commit()

    assert first.notices == (TicketResolved(wrote.ticket),)
    assert second.notices == (TicketNotOpen(wrote.ticket),)
    assert rows(database_url, "select kind from ticket_events where kind = 'resolved'") == [
        ("resolved",)
    ]


async def test_a_rating_closes_a_resolved_ticket_and_six_stars_are_refused(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    wrote = await client_wrote(tickets, said("help"))
    assert wrote.ticket is not None
    await resolve_ticket(tickets, wrote.ticket, ENGINEER, NINE)

    refused = await rate_ticket(tickets, wrote.ticket, CLIENT, 6)
    rated = await rate_ticket(tickets, wrote.ticket, CLIENT, 5)
    await session.commit()

    assert refused.refusal == RatingRefused()
    assert rated.notices == (TicketRated(wrote.ticket, 5),)
    assert rows(database_url, "select status, rating from tickets") == [("closed", 5)]


async def test_a_client_owns_only_their_tickets_and_closing_without_one_says_so(
    tickets: TicketService,
) -> None:
    wrote = await client_wrote(tickets, said("help"))
    assert wrote.ticket is not None
    stranger = CLIENT.__class__(id=700002, full_name="Someone")

    assert await owned_ticket(tickets, CLIENT, wrote.ticket.id) is wrote.ticket
    assert await owned_ticket(tickets, stranger, wrote.ticket.id) is None
    assert (await close_ticket(tickets, stranger, NINE)).notices == (NoOpenTicket(),)


async def test_an_offline_request_for_an_unknown_customer_opens_nothing(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    request = OfflineRequest(Channel.PHONE, 99, NINE, "Server is down", ENGINEER, NINE)

    outcome = await log_offline_request(tickets, request)
    await session.commit()

    assert outcome.notices == (UnknownCustomer(99, Channel.PHONE),)
    assert rows(database_url, "select count(*) from tickets") == [(0,)]


async def test_an_emergency_names_the_configured_targets_and_ends_once(
    session: AsyncSession,
) -> None:
    emergencies = EmergencyService(session)
    config = SlaConfig(
        telegram_first_response=timedelta(minutes=15),
        emergency_first_response=timedelta(minutes=90),
    )

    declared = await declare_emergency(emergencies, "flood", 900001, NINE, config)
    ended = await end_emergency(emergencies, 900001, NINE + timedelta(hours=1), config)
    again = await end_emergency(emergencies, 900001, NINE + timedelta(hours=2), config)

    assert declared.notices == (EmergencyDeclared(90.0),)
    assert ended.notices == (EmergencyEnded(15.0),)
    assert again.notices == (NoEmergency(),)
