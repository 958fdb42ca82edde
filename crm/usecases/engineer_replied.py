"""An engineer wrote in a ticket's topic: a reply for the client, or an internal note."""

from __future__ import annotations

from crm.dto import IncomingMessage
from crm.models import Delivery, Direction, Ticket
from crm.tickets import TicketService
from crm.usecases.notices import EngineerReplied, NoteKept, Outcome, told


async def engineer_wrote(
    tickets: TicketService, ticket: Ticket, incoming: IncomingMessage, *, internal: bool
) -> Outcome:
    recorded = await tickets.record_engineer_message(ticket.id, incoming, internal=internal)
    if recorded is not None and recorded.direction is Direction.NOTE:
        return told(NoteKept(ticket, recorded), ticket=ticket)
    # Redelivered messages have nothing to deliver.
    if recorded is None or recorded.delivery is not Delivery.PENDING:
        return Outcome(ticket=ticket)
    return told(EngineerReplied(ticket, recorded), ticket=ticket)
