"""An engineer wrote in an outage's room: one answer for every client who reported it."""

from __future__ import annotations

from crm.dto import IncomingMessage
from crm.incidents import IncidentService
from crm.models import Channel, Incident, Ticket, TicketStatus
from crm.room_answers import RoomAnswers
from crm.tickets import TicketService
from crm.usecases.notices import (
    EngineerReplied,
    Notice,
    Outcome,
    RoomAnswered,
    TopicNotNeeded,
    TopicOpened,
)


async def answer_reporters(
    tickets: TicketService,
    incidents: IncidentService,
    incident: Incident,
    incoming: IncomingMessage,
) -> Outcome:
    """Every client who reported any service of the room's outage, or whose ticket waits
    in its room, hears it once. Each copy is a message of its client's ticket, and its
    first response when it is the first (terms A 5.2: the time of the engineer's message,
    once the copy has arrived)."""
    answers = RoomAnswers(tickets.session, tickets.clock)
    if await answers.seen(incoming):
        return Outcome()
    members = await incidents.outage_members(incident)
    waiting = await incidents.waiting_in_room(members)
    reported: list[Ticket] = []
    for member in members:
        reported += await incidents.tickets_of(member)
    reporters = _one_ticket_per_client(sorted(reported + waiting, key=lambda ticket: ticket.id))
    # Told apart in the engineer's receipt: "reported" should not count those who only wrote.
    reporting_clients = {ticket.client_chat_id for ticket in reported}
    only_waiting = sum(1 for ticket in reporters if ticket.client_chat_id not in reporting_clients)
    await answers.record(incident, incoming, len(reporters))
    notices: list[Notice] = []
    for ticket in reporters:
        message = await tickets.record_room_answer(ticket, incoming)
        notices.append(EngineerReplied(ticket, message))
    notices.append(RoomAnswered(incident, len(reporters), only_waiting))
    return Outcome(tuple(notices))


def _one_ticket_per_client(reported: list[Ticket]) -> list[Ticket]:
    """A client who reported from two tickets hears the answer once, in the latest."""
    latest: dict[int, Ticket] = {}
    for ticket in reported:
        if (
            ticket.channel is Channel.TELEGRAM
            and ticket.client_chat_id is not None
            and ticket.status is not TicketStatus.CLOSED
        ):
            latest[ticket.client_chat_id] = ticket  # tickets_of is oldest first
    return sorted(latest.values(), key=lambda ticket: ticket.id)


async def open_topic(tickets: TicketService, number: int) -> Outcome:
    """`/open TICKET`: the ticket leaves its room for a topic of its own, where an engineer
    talks to that one client; its topic starts with what was said so far."""
    ticket = await tickets.tickets.get(number)
    if ticket is None or ticket.gathered_in_id is None or ticket.support_chat_id is not None:
        return Outcome((TopicNotNeeded(number, ticket),))
    earlier = await tickets.tickets.messages(ticket.id)
    return Outcome((TopicOpened(ticket, ticket.gathered_in_id, earlier),), ticket)
