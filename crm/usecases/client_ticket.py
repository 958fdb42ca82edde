"""A client acts on a ticket of their own: closes it or rates it."""

from __future__ import annotations

from datetime import datetime

from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.notices import (
    AlreadyRated,
    NoOpenTicket,
    Outcome,
    RatingRefused,
    TicketClosedByClient,
    TicketRated,
    told,
)


async def owned_ticket(
    tickets: TicketService, client: TelegramUser, ticket_id: int
) -> Ticket | None:
    """Buttons carry a ticket number; a client may only act on tickets of their own."""
    ticket = await tickets.tickets.get(ticket_id)
    contact = await tickets.contacts.find(client.id)
    if ticket is None or contact is None or ticket.contact_id != contact.id:
        return None
    return ticket


async def close_ticket(tickets: TicketService, client: TelegramUser, when: datetime) -> Outcome:
    ticket = await tickets.close_by_client(client, when)
    if ticket is None:
        return told(NoOpenTicket())
    return told(TicketClosedByClient(ticket), ticket=ticket)


async def rate_ticket(
    tickets: TicketService, ticket: Ticket, client: TelegramUser, stars: int
) -> Outcome:
    if ticket.rating is not None:
        return told(AlreadyRated(ticket, ticket.rating))
    try:
        ticket = await tickets.rate(ticket.id, client, stars)
    except CrmError:
        return told(RatingRefused())
    return told(TicketRated(ticket, stars), ticket=ticket)
