"""Running SLA clocks: which warnings, breaches and escalations have fallen due.

The scan reads only what is still running (open tickets without an answer, object-storage
tickets not resolved, confirmed equipment incidents not restored), so its cost follows the
open work, not the history. An alert row is unique per subject and kind: whatever restarts
or instances there are, each alert is raised once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Incident, Service, SlaAlert, Ticket, TicketStatus
from sla import SlaConfig
from sla.model import IncidentStatus, RestorationType, ServiceType

WARNING, BREACH, ESCALATION = "warning", "breach", "escalation"


@dataclass(frozen=True)
class RaisedAlert:
    subject: str  # "response", "processing" or "restoration"
    kind: str  # WARNING, BREACH or ESCALATION
    ticket: Ticket | None
    incident: Incident | None
    due_at: datetime  # when the alert itself fell due
    deadline: datetime  # the SLA target's due time
    late: bool


@dataclass(frozen=True)
class Clock:
    """One running target: its start and deadline."""

    subject: str
    subject_id: int
    started_at: datetime
    deadline: datetime
    ticket: Ticket | None
    incident: Incident | None


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

    async def running_clocks(self) -> list[Clock]:
        clocks: list[Clock] = []
        unanswered = await self.session.scalars(
            select(Ticket).where(
                Ticket.status == TicketStatus.OPEN,
                Ticket.first_response_at.is_(None),
                Ticket.response_due_at.is_not(None),
            )
        )
        for ticket in unanswered:
            assert ticket.response_due_at is not None
            clocks.append(
                Clock("response", ticket.id, ticket.opened_at, ticket.response_due_at, ticket, None)
            )
        # B 5.3: object-storage requests are processed within 24 hours.
        storage = await self.session.scalars(
            select(Ticket)
            .join(Service, Service.id == Ticket.service_id)
            .where(
                Ticket.status == TicketStatus.OPEN,
                Service.service_type == ServiceType.OBJECT_STORAGE,
            )
        )
        for ticket in storage:
            deadline = ticket.opened_at + self.config.object_storage_processing
            clocks.append(Clock("processing", ticket.id, ticket.opened_at, deadline, ticket, None))
        # A 5.7: restoration of dedicated equipment, from confirmation.
        incidents = await self.session.scalars(
            select(Incident)
            .join(Service, Service.id == Incident.service_id)
            .where(
                Incident.status == IncidentStatus.CONFIRMED,
                Incident.restored_at.is_(None),
                Incident.restoration_type.is_not(None),
                Service.service_type == ServiceType.DEDICATED,
            )
        )
        for incident in incidents:
            assert incident.confirmed_at is not None
            target = (
                self.config.reboot_restoration
                if incident.restoration_type is RestorationType.REBOOT
                else self.config.repair_restoration
            )
            clocks.append(
                Clock(
                    "restoration",
                    incident.id,
                    incident.confirmed_at,
                    incident.confirmed_at + target,
                    None,
                    incident,
                )
            )
        return clocks

    def thresholds(self, clock: Clock) -> list[tuple[str, datetime]]:
        target = clock.deadline - clock.started_at
        return [
            (WARNING, clock.deadline - target * self.warn_when_left),
            (BREACH, clock.deadline),
            (ESCALATION, clock.started_at + 2 * target),
        ]

    async def scan(self, now: datetime) -> list[RaisedAlert]:
        """Raises (records) every alert that has fallen due and was not raised before."""
        clocks = await self.running_clocks()
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
                if at > now or (clock.subject, clock.subject_id, kind) in raised:
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
