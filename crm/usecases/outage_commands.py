"""Engineers' outage evidence in a ticket's topic: open, confirm, reject, restore, classify."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService, incident_start
from crm.models import Incident, Ticket
from crm.usecases.notices import (
    DataLossRecorded,
    OutageConfirmed,
    OutageExcluded,
    OutageOpened,
    OutageRejected,
    OutageRestored,
    Outcome,
    RestorationTypeSet,
    RestoredBeforeStart,
    RestoredInFuture,
    ServiceNotOfCustomer,
    told,
)
from sla.config import SlaConfig
from sla.model import Exclusion, Layer, RestorationType
from sla.targets import restoration_target


@dataclass(frozen=True, slots=True)
class OutageCommand:
    """Who acts on which ticket's outage, and when (the command's Telegram time)."""

    ticket: Ticket
    incident: Incident
    engineer: TelegramUser
    at: datetime


async def open_outage(
    incidents: IncidentService, ticket: Ticket, service_id: int, engineer: TelegramUser
) -> Outcome:
    """The ticket's opening is the outage's start evidence, as if the client had said so."""
    try:
        incident, created = await incidents.open_for_ticket(
            ticket, service_id, ticket.opened_at, engineer, "engineer"
        )
    except CrmError:
        return told(ServiceNotOfCustomer(service_id))
    return told(OutageOpened(incident, incident_start(incident), created), ticket=ticket)


async def confirm_outage(incidents: IncidentService, c: OutageCommand, layer: Layer) -> Outcome:
    incident = await incidents.confirm(c.incident, layer, c.engineer, c.at)
    return told(OutageConfirmed(c.ticket, incident, layer), ticket=c.ticket)


async def reject_outage(incidents: IncidentService, c: OutageCommand, reason: str) -> Outcome:
    incident = await incidents.reject(c.incident, reason, c.engineer, c.at)
    return told(OutageRejected(c.ticket, incident, reason), ticket=c.ticket)


async def restore_outage(
    incidents: IncidentService, c: OutageCommand, restored_at: datetime, *, stated: bool
) -> Outcome:
    try:
        incident = await incidents.restore(
            c.incident, restored_at, c.engineer, stated=stated, message_time=c.at
        )
    except CrmError as error:
        if error.code == "restored_before_start":
            return told(RestoredBeforeStart(restored_at, error.params["start"]))
        return told(RestoredInFuture(restored_at))
    start = incident_start(incident)
    minutes = (restored_at - start).total_seconds() / 60 if start else 0.0
    return told(OutageRestored(c.ticket, incident, restored_at, start, minutes), ticket=c.ticket)


async def exclude_outage(
    incidents: IncidentService, c: OutageCommand, exclusion: Exclusion, note: str | None
) -> Outcome:
    incident = await incidents.exclude(c.incident, exclusion, note, c.engineer, c.at)
    return told(OutageExcluded(incident, exclusion), ticket=c.ticket)


async def set_restoration_type(
    incidents: IncidentService, c: OutageCommand, kind: RestorationType, config: SlaConfig
) -> Outcome:
    incident = await incidents.set_restoration_type(c.incident, kind, c.engineer, c.at)
    target = restoration_target(kind, config)
    return told(RestorationTypeSet(incident, kind, target), ticket=c.ticket)


async def record_data_loss(incidents: IncidentService, c: OutageCommand) -> Outcome:
    incident = await incidents.mark_data_loss(c.incident, c.engineer, c.at)
    return told(DataLossRecorded(c.ticket, incident), ticket=c.ticket)
