"""`/handoff DEPARTMENT [NOTE]`: a ticket handed to another department (A/B 5.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from crm.dto import TelegramUser
from crm.handoff import hand_off
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.notices import HandedOff, Outcome, UnknownDepartment, told


async def handoff_ticket(
    tickets: TicketService,
    ticket: Ticket,
    departments: Mapping[str, int],
    department: str,
    note: str | None,
    by: TelegramUser,
    when: datetime,
) -> Outcome:
    name = department.strip().lower()
    if name not in departments:
        return told(UnknownDepartment(ticket, department, tuple(sorted(departments))))
    handoff = await hand_off(
        tickets.session,
        ticket,
        department=name,
        chat_id=departments[name],
        note=note or None,
        by=by,
        when=when,
        clock=tickets.clock,
    )
    history = await tickets.tickets.messages(ticket.id)
    return told(HandedOff(ticket, handoff, tuple(history)), ticket=ticket)
