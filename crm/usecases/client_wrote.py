"""A client wrote to the bot: the message joins their ticket, or opens or reopens one."""

from __future__ import annotations

from datetime import datetime

from crm.dto import IncomingMessage
from crm.edits import record_edit
from crm.incidents import IncidentService
from crm.models import Category, Channel, Ticket
from crm.tickets import BeforeOpening, TicketService
from crm.usecases.notices import (
    AlbumPartRecorded,
    ClientEdited,
    ClientMessageRecorded,
    ClientStillWaiting,
    Notice,
    Outcome,
    TicketOpened,
    TicketReopened,
)


async def client_wrote(
    tickets: TicketService,
    incoming: IncomingMessage,
    *,
    force_new: bool = False,
    gather: bool = False,
    category: Category | None = None,
    before_opening: BeforeOpening | None = None,
) -> Outcome:
    """The outcome's ticket is None for a message already recorded (a redelivery).

    `gather`: a plain message that opens a ticket while an outage of the customer's
    services runs waits in that outage's room, like a `/down`, instead of taking a topic
    (it is no notice of the outage: only the client's `/down` or "service is down" is).
    `category`, `before_opening`: for a ticket the message opens (a `/down` says what it
    is about, and finds its outage before the ticket is written)."""
    if gather:
        before_opening = _gathering_into_running_outage(tickets)
    recorded = await tickets.record_client_message(
        incoming, force_new=force_new, category=category, before_opening=before_opening
    )
    if recorded.duplicate:
        # Its copy was queued with it, in the same transaction.
        return Outcome()
    ticket = recorded.ticket
    notices: list[Notice] = []
    if recorded.opened:
        notices.append(TicketOpened(ticket, promised_minutes(tickets, ticket)))
    elif recorded.reopened:
        notices.append(TicketReopened(ticket, by="client"))
    if incoming.media_group_id is not None:
        notices.append(AlbumPartRecorded(ticket, recorded.message, incoming.media_group_id, "in"))
    else:
        notices.append(ClientMessageRecorded(ticket, recorded.message))
    if not (recorded.opened or recorded.reopened) and incoming.media_group_id is None:
        # (An album's parts arrive together: one wait is enough.)
        notices += still_waiting(ticket, incoming)
    return Outcome(tuple(notices), ticket)


def still_waiting(ticket: Ticket, incoming: IncomingMessage) -> list[Notice]:
    """A client writing again to a ticket nobody answered yet starts no new clock: the
    engineers see the client is still waiting, and for how long."""
    if ticket.first_response_at is not None:
        return []
    waited = (incoming.telegram_date - ticket.opened_at).total_seconds() / 60
    return [ClientStillWaiting(ticket, waited)]


def _gathering_into_running_outage(tickets: TicketService) -> BeforeOpening:
    """The new ticket waits in the room of its customer's running outage, if any: found
    before the ticket is written, its INSERT carries it."""

    async def gather(ticket: Ticket) -> None:
        if (
            ticket.channel is not Channel.TELEGRAM
            or ticket.customer_id is None
            or ticket.support_chat_id is not None
            or ticket.gathered_in_id is not None
        ):
            return
        incidents = IncidentService(tickets.session, tickets.clock)
        ticket.gathered_in_id = await incidents.room_for_customer(ticket.customer_id)

    return gather


def promised_minutes(tickets: TicketService, ticket: Ticket) -> float:
    """The ticket's own first-response target (an emergency's, if one runs), not the usual."""
    if ticket.response_due_at is None:
        return tickets.config.telegram_first_response.total_seconds() / 60
    return (ticket.response_due_at - ticket.opened_at).total_seconds() / 60


async def client_edited(
    tickets: TicketService, edited: IncomingMessage, edited_at: datetime
) -> Outcome:
    """The client edited a message of theirs: an event, and the engineers are shown it."""
    recorded = await record_edit(tickets.session, edited, edited_at, "client", tickets.clock)
    if recorded is None:
        return Outcome()
    notice = ClientEdited(recorded.ticket, recorded.message, recorded.new_text)
    return Outcome((notice,), recorded.ticket)
