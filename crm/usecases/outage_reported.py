"""A client classifies their ticket; "service is down" with a known service is an outage."""

from __future__ import annotations

from datetime import datetime

from crm.dto import IncomingMessage, TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService
from crm.models import Category, Ticket
from crm.tickets import TicketService
from crm.usecases.client_wrote import client_wrote
from crm.usecases.notices import (
    CategoryChosen,
    OutageReported,
    Outcome,
    ServiceChosen,
    ServiceRefused,
    WhichServiceIsDown,
    told,
)


async def report_down(
    tickets: TicketService, incidents: IncidentService, incoming: IncomingMessage
) -> Outcome:
    """`/down`: the message itself is the client's notice (terms A 5.12 / B 5.8)."""
    wrote = await client_wrote(tickets, incoming)
    if wrote.ticket is None:
        return wrote
    return wrote + await choose_category(
        tickets, incidents, wrote.ticket, Category.DOWN, incoming.sender, incoming.telegram_date
    )


async def choose_category(
    tickets: TicketService,
    incidents: IncidentService,
    ticket: Ticket,
    category: Category,
    client: TelegramUser,
    notice_at: datetime,
) -> Outcome:
    ticket = await tickets.set_category(ticket.id, category, client, "client", notice_at)
    outcome = told(CategoryChosen(ticket, category), ticket=ticket)
    if category is not Category.DOWN or ticket.customer is None:
        return outcome
    services = list(ticket.customer.services)
    if len(services) == 1:
        ticket = await tickets.set_service(ticket.id, services[0].id, client)
        return outcome + await _open_outage(incidents, ticket, services[0].id, notice_at, client)
    if services:
        return outcome + told(WhichServiceIsDown(ticket, services), ticket=ticket)
    return outcome


async def choose_service(
    tickets: TicketService,
    incidents: IncidentService,
    ticket: Ticket,
    service_id: int,
    client: TelegramUser,
) -> Outcome:
    try:
        ticket = await tickets.set_service(ticket.id, service_id, client)
    except CrmError:
        return told(ServiceRefused(service_id))
    assert ticket.service is not None
    outcome = told(ServiceChosen(ticket, ticket.service), ticket=ticket)
    if ticket.category is not Category.DOWN:
        return outcome
    notice_at = await tickets.down_reported_at(ticket.id) or ticket.opened_at
    return outcome + await _open_outage(incidents, ticket, ticket.service.id, notice_at, client)


async def _open_outage(
    incidents: IncidentService,
    ticket: Ticket,
    service_id: int,
    notice_at: datetime,
    client: TelegramUser,
) -> Outcome:
    incident, created = await incidents.open_for_ticket(
        ticket, service_id, notice_at, client, "client"
    )
    if not created:
        return Outcome(ticket=ticket)
    return told(OutageReported(ticket, incident, notice_at), ticket=ticket)
