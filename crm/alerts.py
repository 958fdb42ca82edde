"""Running SLA clocks: which warnings, breaches and escalations have fallen due.

Which targets run, from when and until when, is the SLA engine's answer (`sla.targets`), the
same one the monthly report gets: the rows are converted to its records by the report's own
converters. This module only decides where the clocks are read and when an alert is said.

The scan reads only what is still running (open tickets, confirmed incidents not restored),
so its cost follows the open work, not the history. An alert row is unique per subject and
kind: whatever restarts or instances there are, each alert is raised once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Customer, Incident, Service, SlaAlert, Ticket, TicketStatus
from crm.reporting import (
    INCIDENT_COLUMNS,
    SERVICE_COLUMNS,
    TICKET_COLUMNS,
    incident_record,
    service_record,
    ticket_record,
)
from sla import SlaConfig
from sla.model import IncidentStatus
from sla.targets import Outcome, TargetClock, restoration_clock, ticket_clocks

WARNING, BREACH, ESCALATION = "warning", "breach", "escalation"


@dataclass(frozen=True)
class RaisedAlert:
    subject: str  # "response", "processing" or "restoration" (sla.targets.Subject)
    kind: str  # WARNING, BREACH or ESCALATION
    ticket: Ticket | None
    incident: Incident | None
    due_at: datetime  # when the alert itself fell due
    deadline: datetime  # the SLA target's due time
    late: bool


@dataclass(frozen=True)
class Clock:
    """One running target: its start and deadline, and the rule's own clock behind them."""

    subject: str
    subject_id: int
    started_at: datetime
    deadline: datetime
    ticket: Ticket | None
    incident: Incident | None
    rule: TargetClock


def _running(
    rule: TargetClock | None, subject_id: int, ticket: Ticket | None, incident: Incident | None
) -> Clock | None:
    if rule is None or not rule.running or rule.due_at is None:
        return None
    return Clock(rule.subject, subject_id, rule.started_at, rule.due_at, ticket, incident, rule)


class SlaClockScanner:
    def __init__(
        self,
        session: AsyncSession,
        config: SlaConfig,
        *,
        warn_when_left: float = 0.3,
        late_after: timedelta = timedelta(seconds=60),
    ) -> None:
        self.session = session
        self.config = config
        self.warn_when_left = warn_when_left
        self.late_after = late_after
        # How many clocks the last scan found running (for the operator's metrics).
        self.clocks_seen = 0

    async def running_clocks(self) -> list[Clock]:
        clocks: list[Clock] = []
        # A closed or resolved ticket stops its clocks: only open ones are read (the
        # status index), and sla decides which of their targets still run.
        open_tickets = await self.session.execute(
            select(Ticket, *TICKET_COLUMNS)
            .outerjoin(Service, Service.id == Ticket.service_id)
            .where(Ticket.status == TicketStatus.OPEN)
            .order_by(Ticket.id)
        )
        for ticket, *values in open_tickets.unique():
            for rule in ticket_clocks(ticket_record(values), self.config):
                clock = _running(rule, ticket.id, ticket, None)
                if clock is not None:
                    clocks.append(clock)
        # Restoration runs from confirmation (A 5.7), so only confirmed, unrestored incidents
        # can carry one (the running-incidents index); sla checks the layer and the DC.
        incidents = await self.session.execute(
            select(Incident, *INCIDENT_COLUMNS, *SERVICE_COLUMNS)
            .join(Service, Service.id == Incident.service_id)
            .join(Customer, Customer.id == Service.customer_id)
            .where(Incident.status == IncidentStatus.CONFIRMED, Incident.restored_at.is_(None))
            .order_by(Incident.id)
        )
        split = 1 + len(INCIDENT_COLUMNS)
        for row in incidents.unique():
            restoration = restoration_clock(
                incident_record(row[1:split]), service_record(row[split:]), self.config
            )
            clock = _running(restoration, row[0].id, None, row[0])
            if clock is not None:
                clocks.append(clock)
        return clocks

    def thresholds(self, clock: Clock) -> list[tuple[str, datetime]]:
        target = clock.deadline - clock.started_at
        return [
            (WARNING, clock.deadline - target * self.warn_when_left),
            (BREACH, clock.deadline),
            (ESCALATION, clock.started_at + 2 * target),
        ]

    def has_fallen_due(self, clock: Clock, kind: str, at: datetime, now: datetime) -> bool:
        if kind == BREACH:
            # The report's own verdict, so an alert never calls a breach the report does not.
            return clock.rule.check(now).outcome is Outcome.BREACHED
        return at <= now

    async def scan(self, now: datetime) -> list[RaisedAlert]:
        """Raises (records) every alert that has fallen due and was not raised before."""
        clocks = await self.running_clocks()
        self.clocks_seen = len(clocks)
        if not clocks:
            return []
        # One IN list per subject keeps the lookup on the unique index (a composite IN
        # would scan it whole, and it grows with the history).
        ids_by_subject: dict[str, set[int]] = {}
        for clock in clocks:
            ids_by_subject.setdefault(clock.subject, set()).add(clock.subject_id)
        raised: set[tuple[str, int, str]] = set()
        for subject, ids in ids_by_subject.items():
            result = await self.session.execute(
                select(SlaAlert.subject, SlaAlert.subject_id, SlaAlert.kind).where(
                    SlaAlert.subject == subject, SlaAlert.subject_id.in_(ids)
                )
            )
            raised.update((row[0], row[1], row[2]) for row in result)
        alerts: list[RaisedAlert] = []
        for clock in clocks:
            for kind, at in self.thresholds(clock):
                key = (clock.subject, clock.subject_id, kind)
                if key in raised or not self.has_fallen_due(clock, kind, at, now):
                    continue
                late = now - at > self.late_after
                self.session.add(
                    SlaAlert(
                        subject=clock.subject,
                        subject_id=clock.subject_id,
                        kind=kind,
                        due_at=at,
                        raised_at=now,
                        late=late,
                    )
                )
                alerts.append(
                    RaisedAlert(
                        clock.subject, kind, clock.ticket, clock.incident, at, clock.deadline, late
                    )
                )
        await self.session.flush()
        return alerts

    async def board(self) -> list[Ticket]:
        """Open tickets: unanswered ones by deadline (overdue first), then the answered."""
        tickets = (
            await self.session.scalars(select(Ticket).where(Ticket.status == TicketStatus.OPEN))
        ).all()

        def urgency(ticket: Ticket) -> tuple[int, float, int]:
            if ticket.first_response_at is None and ticket.response_due_at is not None:
                return (0, ticket.response_due_at.timestamp(), ticket.id)
            return (1, 0.0, ticket.id)

        return sorted(tickets, key=urgency)
