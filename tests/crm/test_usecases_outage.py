"""Outages reported by clients and worked by engineers: what is recorded, who is told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.incidents import IncidentService
from crm.tickets import TicketService
from crm.usecases import outage_commands as outage
from crm.usecases.notices import (
    ClientMessageRecorded,
    DownRecorded,
    DownServiceChosen,
    OutageNoticed,
    RestorationTypeSet,
    RestoredBeforeStart,
    ServiceNotOfCustomer,
    ServiceRefused,
)
from crm.usecases.outage_reported import choose_service, report_down
from sla.config import SlaConfig
from sla.model import RestorationType
from tests.crm.usecase_fixtures import CLIENT, ENGINEER, NINE, linked_client, said
from tests.db import rows


async def test_down_with_one_service_records_the_outage_at_the_messages_own_time(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=1)
    outcome = await report_down(tickets, IncidentService(session), said("/down", 3))
    await session.commit()

    assert [type(n) for n in outcome.notices] == [
        ClientMessageRecorded,
        DownRecorded,
        OutageNoticed,
    ]
    assert rows(database_url, "select service_id, status, client_notice_at from incidents") == [
        (1, "reported", "2026-11-02 09:03:00.000000")
    ]


async def test_down_with_several_services_asks_which_one_and_opens_no_outage_yet(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=2)
    outcome = await report_down(tickets, IncidentService(session), said("/down"))
    await session.commit()

    question = outcome.notices[-1]
    assert isinstance(question, DownRecorded)
    assert question.service is None
    assert [s.name for s in question.services] == ["rack-1", "rack-2"]
    assert rows(database_url, "select count(*) from incidents") == [(0,)]


async def test_the_chosen_service_of_a_down_ticket_opens_the_outage_at_the_down_message(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=2)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down", 2))
    assert down.ticket is not None
    outcome = await choose_service(tickets, incidents, down.ticket, 2, CLIENT)
    await session.commit()

    assert [type(n) for n in outcome.notices] == [DownServiceChosen, OutageNoticed]
    assert rows(database_url, "select service_id, client_notice_at from incidents") == [
        (2, "2026-11-02 09:02:00.000000")
    ]


async def test_a_service_of_another_customer_is_refused(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=2)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None

    refused = await choose_service(tickets, incidents, down.ticket, 99, CLIENT)
    by_engineer = await outage.open_outage(incidents, down.ticket, 99, ENGINEER, (NINE, "stated"))

    assert refused.notices == (ServiceRefused(99),)
    assert refused.refusal == ServiceRefused(99)
    assert by_engineer.notices == (ServiceNotOfCustomer(99),)


async def test_the_restoration_target_comes_from_the_sla_config(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    command = outage.OutageCommand(incident, ENGINEER, NINE)
    config = SlaConfig(reboot_restoration=timedelta(minutes=30))

    outcome = await outage.set_restoration_type(incidents, command, RestorationType.REBOOT, config)

    assert outcome.notices == (
        RestorationTypeSet(incident, RestorationType.REBOOT, timedelta(minutes=30)),
    )


async def test_a_restoration_before_the_outage_began_is_refused_and_not_recorded(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down", 10))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    command = outage.OutageCommand(incident, ENGINEER, NINE + timedelta(hours=1))

    outcome = await outage.restore_outage(incidents, command, NINE, stated=True)
    await session.commit()

    assert outcome.notices == (RestoredBeforeStart(NINE, NINE + timedelta(minutes=10)),)
    assert rows(database_url, "select restored_at from incidents") == [(None,)]
