"""Clients wrote again to their open tickets: a polled batch's plain texts recorded at once.

`client_wrote` one message at a time costs an ORM unit of work and a SAVEPOINT each; in a
burst (an outage makes everyone write) most messages are follow-ups that only join an open
ticket. This records a leading run of them with one executemany per table and returns, per
message, exactly the notices `client_wrote` would have: the rows and what the bot queues
from them are the same (tests/bot/test_batch_follow_ups.py feeds both paths one batch).
"""

from __future__ import annotations

from collections.abc import Sequence

from crm.dto import IncomingMessage
from crm.tickets import TicketService
from crm.updates import UpdateLog
from crm.usecases.client_wrote import still_waiting
from crm.usecases.notices import ClientMessageRecorded, Notice, Outcome


async def clients_wrote_batch(
    tickets: TicketService, incoming: Sequence[IncomingMessage], updates: UpdateLog
) -> list[Outcome]:
    """One outcome per message taken, for the leading messages of `incoming` that join an
    open ticket with a topic; the caller hands the first message after them (and the rest)
    to `client_wrote`, in order. Their update ids are remembered in the same statements'
    transaction, as the database middleware does for each update it handles."""
    recorded = await tickets.record_follow_ups(incoming)
    await updates.remember_all([r.message.update_id for r in recorded if r.message.update_id])
    outcomes = []
    for taken, message in zip(recorded, incoming, strict=False):
        ticket = taken.ticket
        notices: list[Notice] = [ClientMessageRecorded(ticket, taken.message)]
        notices += still_waiting(ticket, message)
        outcomes.append(Outcome(tuple(notices), ticket))
    return outcomes
