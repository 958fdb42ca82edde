"""Engineers' commands on a ticket: take, resolve, reopen."""

from __future__ import annotations

from datetime import datetime

from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.notices import (
    LinkRefused,
    Outcome,
    ServiceNotOfCustomer,
    TicketAlreadyOpen,
    TicketLinked,
    TicketNotOpen,
    TicketReopened,
    TicketResolved,
    TicketServiceSet,
    TicketTaken,
    told,
)


async def take_ticket(
    tickets: TicketService, ticket: Ticket, engineer: TelegramUser, when: datetime
) -> Outcome:
    ticket = await tickets.take(ticket.id, engineer, when)
    return told(TicketTaken(ticket, engineer.full_name), ticket=ticket)


async def resolve_ticket(
    tickets: TicketService, ticket: Ticket, engineer: TelegramUser, when: datetime
) -> Outcome:
    try:
        ticket = await tickets.resolve(ticket.id, engineer, when)
    except CrmError:
        return told(TicketNotOpen(ticket), ticket=ticket)
    return told(TicketResolved(ticket), ticket=ticket)


async def reopen_ticket(
    tickets: TicketService, ticket: Ticket, engineer: TelegramUser, when: datetime
) -> Outcome:
    try:
        ticket = await tickets.reopen(ticket.id, engineer, when)
    except CrmError:
        return told(TicketAlreadyOpen(ticket), ticket=ticket)
    return told(TicketReopened(ticket, by="engineer"), ticket=ticket)


async def link_customer(
    tickets: TicketService, ticket: Ticket, customer_id: int, engineer: TelegramUser, when: datetime
) -> Outcome:
    try:
        ticket = await tickets.link_customer(ticket.id, customer_id, engineer, when)
    except CrmError as error:
        return told(LinkRefused(ticket, error.code, customer_id), ticket=ticket)
    return told(TicketLinked(ticket), ticket=ticket)


async def bind_service(
    tickets: TicketService, ticket: Ticket, service_id: int, engineer: TelegramUser
) -> Outcome:
    """`/service ID`: an engineer says which of the customer's services the ticket is about."""
    try:
        ticket = await tickets.set_service(ticket.id, service_id, engineer, role="engineer")
    except CrmError:
        return told(ServiceNotOfCustomer(service_id))
    assert ticket.service is not None
    return told(TicketServiceSet(ticket, ticket.service), ticket=ticket)
