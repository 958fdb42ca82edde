"""An engineer wrote in a ticket's topic: a reply for the client, or an internal note.

A department the ticket was handed to answers the same way from its own chat."""

from __future__ import annotations

from datetime import datetime

from crm.dto import IncomingMessage
from crm.edits import record_edit, record_room_answer_edits
from crm.models import Delivery, Direction, Handoff, Ticket
from crm.tickets import TicketService
from crm.usecases.notices import (
    AlbumPartRecorded,
    DepartmentReplied,
    EngineerEdited,
    EngineerReplied,
    NoteKept,
    Outcome,
    told,
)


async def engineer_wrote(
    tickets: TicketService, ticket: Ticket, incoming: IncomingMessage, *, internal: bool
) -> Outcome:
    recorded = await tickets.record_engineer_message(ticket.id, incoming, internal=internal)
    if recorded is not None and recorded.direction is Direction.NOTE:
        return told(NoteKept(ticket, recorded), ticket=ticket)
    # Redelivered messages have nothing to deliver.
    if recorded is None or recorded.delivery is not Delivery.PENDING:
        return Outcome(ticket=ticket)
    if incoming.media_group_id is not None:
        part = AlbumPartRecorded(ticket, recorded, incoming.media_group_id, "out")
        return told(part, ticket=ticket)
    return told(EngineerReplied(ticket, recorded), ticket=ticket)


async def engineer_edited(
    tickets: TicketService, edited: IncomingMessage, edited_at: datetime
) -> Outcome:
    """An engineer edited a message: an event, and the client's copy follows the edit."""
    recorded = await record_edit(tickets.session, edited, edited_at, "engineer", tickets.clock)
    if recorded is not None:
        notice = EngineerEdited(recorded.ticket, recorded.message, recorded.new_text)
        return told(notice, ticket=recorded.ticket)
    # Not one ticket's message: perhaps an answer in an outage's room, copied to many.
    copies = await record_room_answer_edits(tickets.session, edited, edited_at, tickets.clock)
    return Outcome(tuple(EngineerEdited(e.ticket, e.message, e.new_text) for e in copies))


async def department_wrote(
    tickets: TicketService, ticket: Ticket, handoff: Handoff, incoming: IncomingMessage
) -> Outcome:
    """A department's answer in its chat: recorded like an engineer's, copied to the client
    (a message starting with "!" stays among the department and support)."""
    internal = (incoming.text or "").startswith("!")
    recorded = await tickets.record_engineer_message(ticket.id, incoming, internal=internal)
    if recorded is None:
        return Outcome(ticket=ticket)  # Redelivered.
    return told(DepartmentReplied(ticket, recorded, handoff.department), ticket=ticket)
