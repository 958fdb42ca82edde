"""A client classifies their ticket; "service is down" with a known service is an outage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from crm.dto import IncomingMessage, TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService, Report, Target
from crm.models import Category, NoticeSource, Service, Ticket, TicketStatus
from crm.tickets import TicketService
from crm.usecases.client_wrote import client_wrote
from crm.usecases.notices import (
    ButtonTicketClosed,
    CategoryChosen,
    DownRecorded,
    DownServiceChosen,
    OutageNoticed,
    OutageReported,
    Outcome,
    ServiceAlreadyChosen,
    ServiceChosen,
    ServiceRefused,
    TicketOpened,
    WhichServiceIsDown,
    told,
)


async def report_down(
    tickets: TicketService,
    incidents: IncidentService,
    incoming: IncomingMessage,
    *,
    force_new: bool = False,
) -> Outcome:
    """`/down`: the message itself is the client's notice (terms A 5.12 / B 5.8).

    The client hears one answer (`DownRecorded`): no category question, no second note.
    """
    notice_at, client = incoming.telegram_date, incoming.sender
    opening = _OpeningReport(incidents, notice_at, client)
    # A ticket the report opens is written with its category and room (no UPDATE after).
    wrote = await client_wrote(
        tickets, incoming, force_new=force_new, category=Category.DOWN, before_opening=opening
    )
    if wrote.ticket is None:
        return wrote
    ticket = await tickets.set_category(wrote.ticket.id, Category.DOWN, client, "client", notice_at)
    kept = tuple(x for x in wrote.notices if not isinstance(x, TicketOpened))
    service: Service | None = ticket.service
    # Only a report without its service needs the customer's: a storm's reports have it.
    services = [] if service is not None else await tickets.customer_services(ticket)
    if service is None and len(services) == 1:
        ticket = await tickets.set_service(ticket.id, services[0].id, client)
        service = ticket.service
    evidence = Outcome()
    if service is not None:
        evidence = await _open_outage(
            incidents, ticket, service.id, notice_at, client, incoming.text, opening.target
        )
    choices = services if service is None and len(services) > 1 else []
    waits = ticket.support_chat_id is None and ticket.gathered_in_id is None
    if choices and waits and not opening.looked:
        # An older ticket without its service: as `_OpeningReport` does for a new one.
        ticket.gathered_in_id = await incidents.running_room([s.id for s in choices])
    down = DownRecorded(ticket, notice_at, service, choices, _reply_minutes(ticket, notice_at))
    return Outcome(kept, ticket) + told(down, ticket=ticket) + _quiet(evidence)


@dataclass
class _OpeningReport:
    """What a `/down` that opens its ticket finds before the ticket is written, so that its
    INSERT carries its room (no UPDATE after): with its service known, the outage it
    reports (the notice is then placed there without reading it again); without (the
    customer has several), the running outage of any of them. In a storm a client with
    several services is most likely reporting the running outage: the report waits in its
    room, not in a topic of its own, until the client says which service (then it moves
    to that service's outage, see _open_outage)."""

    incidents: IncidentService
    notice_at: datetime
    client: TelegramUser
    target: Target | None = None
    looked: bool = False

    async def __call__(self, ticket: Ticket) -> None:
        if ticket.customer_id is None:
            return
        self.looked = True
        if ticket.service_id is None:
            ticket.gathered_in_id = await self.incidents.customer_running_room(ticket.customer_id)
            return
        report = Report(ticket.service_id, NoticeSource.CLIENT, self.notice_at, ticket, self.client)
        self.target = await self.incidents.target(report)
        if self.target.incident is not None:
            ticket.gathered_in_id = self.target.incident.outage_id or self.target.incident.id


def _reply_minutes(ticket: Ticket, now: datetime) -> int | None:
    """What is left of the ticket's first-response target, while it runs and is not past."""
    if ticket.response_due_at is None or ticket.first_response_at is not None:
        return None
    left = math.ceil((ticket.response_due_at - now).total_seconds() / 60)
    return left if left > 0 else None


def _quiet(outcome: Outcome) -> Outcome:
    """The outage evidence for the engineers only: the client was told in one message."""
    notices = tuple(x for x in outcome.notices if not isinstance(x, OutageReported))
    return Outcome(notices, outcome.ticket)


async def choose_category(
    tickets: TicketService,
    incidents: IncidentService,
    ticket: Ticket,
    category: Category,
    client: TelegramUser,
    notice_at: datetime,
) -> Outcome:
    if ticket.status is not TicketStatus.OPEN:
        return told(ButtonTicketClosed(ticket))
    ticket = await tickets.set_category(ticket.id, category, client, "client", notice_at)
    outcome = told(CategoryChosen(ticket, category), ticket=ticket)
    if category is not Category.DOWN or ticket.customer is None:
        return outcome
    services = await tickets.customer_services(ticket)
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
    if ticket.status is not TicketStatus.OPEN:
        return told(ButtonTicketClosed(ticket))
    if ticket.service is not None:
        # A button acts once; a second service down is opened by an engineer (/outage ID).
        return told(ServiceAlreadyChosen(ticket, ticket.service))
    try:
        ticket = await tickets.set_service(ticket.id, service_id, client)
    except CrmError:
        return told(ServiceRefused(service_id))
    assert ticket.service is not None
    if ticket.category is not Category.DOWN:
        return told(ServiceChosen(ticket, ticket.service), ticket=ticket)
    notice_at = await tickets.down_reported_at(ticket.id) or ticket.opened_at
    left = _reply_minutes(ticket, tickets.clock())
    chosen = told(DownServiceChosen(ticket, ticket.service, notice_at, left), ticket=ticket)
    return chosen + _quiet(
        await _open_outage(incidents, ticket, ticket.service.id, notice_at, client)
    )


async def _open_outage(
    incidents: IncidentService,
    ticket: Ticket,
    service_id: int,
    notice_at: datetime,
    client: TelegramUser,
    text: str | None = None,
    target: Target | None = None,
) -> Outcome:
    """The client's notice joins the service's open outage, or opens one (terms A 5.12).
    `target`: where it goes, found already (`IncidentService.target`)."""
    report = Report(service_id, NoticeSource.CLIENT, notice_at, ticket, client, text)
    placed = await incidents.report(report, target)
    incident = placed.incident
    room_existed = not placed.opened or incident.outage_id is not None
    waiting_in_a_room = ticket.support_chat_id is None and ticket.gathered_in_id is not None
    room = incident.outage_id or incident.id
    if (
        ticket.support_chat_id is None
        and (room_existed or waiting_in_a_room)
        and ticket.gathered_in_id != room
    ):
        # A new ticket reporting a running outage lives in the outage's room (its lead's,
        # when its service's incident is one of several); one that waited in a room for
        # the client to name the service moves to that service's outage, new or running.
        ticket.gathered_in_id = room
        await incidents.session.flush()
    joined = placed.opened and incident.outage_id is not None
    noticed = OutageNoticed(
        incident, ticket, NoticeSource.CLIENT.value, notice_at, placed.opened,
        who=client.full_name, text=text,
        members=await incidents.outage_members(incident) if joined else (),
    )  # fmt: skip
    return told(OutageReported(ticket, incident, notice_at), noticed, ticket=ticket)
