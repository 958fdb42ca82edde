"""Outage incidents.

Every change is an `incident_events` row (append-only, with who and the evidence time);
the `incidents` columns are the current reading of those events, kept for fast reports.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import (
    Incident,
    IncidentEvent,
    Service,
    Ticket,
)
from crm.reporting import incident_record_of
from sla.downtime import reported_start
from sla.model import Exclusion, IncidentStatus, Layer, RestorationType


class IncidentService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    def _event(
        self,
        incident: Incident,
        kind: str,
        *,
        evidence_at: datetime,
        actor: TelegramUser | None,
        role: str,
        stated: bool = False,
        **details: Any,
    ) -> None:
        self.session.add(
            IncidentEvent(
                incident_id=incident.id,
                kind=kind,
                actor_telegram_id=actor.id if actor else None,
                actor_name=actor.full_name if actor else None,
                actor_role=role,
                evidence_at=evidence_at,
                stated=stated,
                recorded_at=self.clock(),
                details=details,
            )
        )

    async def for_ticket(self, ticket_id: int) -> Incident | None:
        return await self.session.scalar(
            select(Incident).where(Incident.ticket_id == ticket_id).order_by(Incident.id.desc())
        )

    async def open_for_ticket(
        self,
        ticket: Ticket,
        service_id: int,
        notice_at: datetime,
        actor: TelegramUser,
        role: str,
    ) -> tuple[Incident, bool]:
        """The ticket's incident for that service, opened now if it has none; (incident, new)."""
        service = await self.session.get(Service, service_id)
        if service is None or service.customer_id != ticket.customer_id:
            raise CrmError("unknown_service", service_id=service_id)
        existing = await self.session.scalar(
            select(Incident).where(
                Incident.ticket_id == ticket.id, Incident.service_id == service_id
            )
        )
        if existing is not None:
            return existing, False
        incident = Incident(
            service_id=service_id,
            ticket_id=ticket.id,
            status=IncidentStatus.REPORTED,
            client_notice_at=notice_at,
            data_loss=False,
            created_at=self.clock(),
        )
        self.session.add(incident)
        await self.session.flush()
        self._event(
            incident,
            "reported",
            evidence_at=notice_at,
            actor=actor,
            role=role,
            channel=ticket.channel.value,
        )
        await self.session.flush()
        return await self._fresh(incident.id), True

    async def confirm(
        self, incident: Incident, layer: Layer, engineer: TelegramUser, when: datetime
    ) -> Incident:
        if incident.status is IncidentStatus.CONFIRMED and incident.layer is layer:
            return incident
        incident.status = IncidentStatus.CONFIRMED
        incident.layer = layer
        incident.confirmed_at = incident.confirmed_at or when
        incident.rejected_reason = None
        self._event(
            incident,
            "confirmed",
            evidence_at=when,
            actor=engineer,
            role="engineer",
            layer=layer.value,
        )
        await self.session.flush()
        return incident

    async def reject(
        self, incident: Incident, reason: str, engineer: TelegramUser, when: datetime
    ) -> Incident:
        incident.status = IncidentStatus.REJECTED
        incident.rejected_reason = reason
        self._event(
            incident, "rejected", evidence_at=when, actor=engineer, role="engineer", reason=reason
        )
        await self.session.flush()
        return incident

    async def restore(
        self,
        incident: Incident,
        restored_at: datetime,
        engineer: TelegramUser,
        *,
        stated: bool,
        message_time: datetime,
    ) -> Incident:
        """Ends the downtime; a stated time must lie between the start and the statement."""
        start = incident_start(incident)
        if start is not None and restored_at < start:
            raise CrmError("restored_before_start", start=start)
        if restored_at > message_time:
            raise CrmError("restored_in_future")
        incident.restored_at = restored_at
        self._event(
            incident,
            "restored",
            evidence_at=restored_at,
            actor=engineer,
            role="engineer",
            stated=stated,
            stated_at=message_time.isoformat() if stated else None,
        )
        await self.session.flush()
        return incident

    async def exclude(
        self,
        incident: Incident,
        exclusion: Exclusion,
        note: str | None,
        engineer: TelegramUser,
        when: datetime,
    ) -> Incident:
        incident.exclusion = exclusion
        self._event(
            incident,
            "excluded",
            evidence_at=when,
            actor=engineer,
            role="engineer",
            exclusion=exclusion.value,
            note=note,
        )
        await self.session.flush()
        return incident

    async def set_restoration_type(
        self,
        incident: Incident,
        restoration: RestorationType,
        engineer: TelegramUser,
        when: datetime,
    ) -> Incident:
        incident.restoration_type = restoration
        self._event(
            incident,
            "restoration_type",
            evidence_at=when,
            actor=engineer,
            role="engineer",
            restoration=restoration.value,
        )
        await self.session.flush()
        return incident

    async def mark_data_loss(
        self, incident: Incident, engineer: TelegramUser, when: datetime
    ) -> Incident:
        incident.data_loss = True
        self._event(incident, "data_loss", evidence_at=when, actor=engineer, role="engineer")
        await self.session.flush()
        return incident

    async def _fresh(self, incident_id: int) -> Incident:
        incident = await self.session.get(Incident, incident_id, populate_existing=True)
        assert incident is not None
        return incident


def incident_start(incident: Incident) -> datetime | None:
    """Where the outage started by its evidence: sla's rule, read from the database row."""
    return reported_start(incident_record_of(incident))
