"""A client wrote to the bot: the message joins their ticket, or opens or reopens one."""

from __future__ import annotations

from crm.dto import IncomingMessage
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.notices import (
    ClientMessageRecorded,
    ClientStillWaiting,
    Notice,
    Outcome,
    TicketOpened,
    TicketReopened,
)


async def client_wrote(
    tickets: TicketService, incoming: IncomingMessage, *, force_new: bool = False
) -> Outcome:
    """The outcome's ticket is None for a message already recorded (a redelivery)."""
    recorded = await tickets.record_client_message(incoming, force_new=force_new)
    if recorded.duplicate:
        # Its copy was queued with it, in the same transaction.
        return Outcome()
    ticket = recorded.ticket
    notices: list[Notice] = []
    if recorded.opened:
        notices.append(TicketOpened(ticket, promised_minutes(tickets, ticket)))
    elif recorded.reopened:
        notices.append(TicketReopened(ticket, by="client"))
    notices.append(ClientMessageRecorded(ticket, recorded.message))
    if not (recorded.opened or recorded.reopened) and ticket.first_response_at is None:
        # No new clock: the engineers see the client is still waiting, and for how long.
        waited = (incoming.telegram_date - ticket.opened_at).total_seconds() / 60
        notices.append(ClientStillWaiting(ticket, waited))
    return Outcome(tuple(notices), ticket)


def promised_minutes(tickets: TicketService, ticket: Ticket) -> float:
    """The ticket's own first-response target (an emergency's, if one runs), not the usual."""
    if ticket.response_due_at is None:
        return tickets.config.telegram_first_response.total_seconds() / 60
    return (ticket.response_due_at - ticket.opened_at).total_seconds() / 60
