"""After `/down` the service's confirmation promises what is left of the ticket's own target."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.incidents import IncidentService
from crm.tickets import TicketService
from crm.usecases.notices import DownRecorded, DownServiceChosen
from crm.usecases.outage_reported import choose_service, report_down
from sla.config import SlaConfig
from tests.crm.usecase_fixtures import CLIENT, NINE, linked_client, said

TARGET = SlaConfig().telegram_first_response


async def test_the_service_confirmation_promises_the_minutes_left_of_the_target(
    session: AsyncSession,
) -> None:
    tickets = TicketService(session, clock=lambda: NINE + TARGET / 2)
    await linked_client(session, services=2)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None
    [recorded] = [x for x in down.notices if isinstance(x, DownRecorded)]
    assert recorded.reply_minutes == TARGET / timedelta(minutes=1)

    chosen = await choose_service(tickets, incidents, down.ticket, 2, CLIENT)

    [confirmation] = [x for x in chosen.notices if isinstance(x, DownServiceChosen)]
    assert confirmation.reply_minutes == (TARGET / 2) / timedelta(minutes=1)


async def test_no_minutes_are_promised_once_the_target_has_passed(
    session: AsyncSession,
) -> None:
    tickets = TicketService(session, clock=lambda: NINE + TARGET * 2)
    await linked_client(session, services=2)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None

    chosen = await choose_service(tickets, incidents, down.ticket, 1, CLIENT)

    [confirmation] = [x for x in chosen.notices if isinstance(x, DownServiceChosen)]
    assert confirmation.reply_minutes is None
