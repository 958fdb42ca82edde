"""Engineers' outage evidence, in the incident's room or a reporting ticket's topic:
open, confirm, reject, restore (once; a correction says why), classify, data loss.

Every reporting client is told what the SLA engine will make of it, in their language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService, Report, incident_start
from crm.models import Incident, NoticeSource, Ticket
from crm.reporting import incident_record_of, service_record_of
from crm.usecases.notices import (
    Counting,
    DataLossRecorded,
    MergeRefused,
    OutageConfirmed,
    OutageExcluded,
    OutageNoticed,
    OutageOpened,
    OutageRejected,
    OutageRestored,
    OutagesMerged,
    Outcome,
    RestorationTypeSet,
    RestoredBeforeStart,
    RestoredInFuture,
    RestoreRefused,
    ServiceNotOfCustomer,
    UnknownSite,
    told,
)
from sla.config import SlaConfig
from sla.credits import data_loss_credit_applies, during_trial
from sla.downtime import counting_interval, not_counted_reason
from sla.model import Exclusion, IncidentStatus, Layer, RestorationType
from sla.responsibility import provider_is_responsible, sla_applies
from sla.targets import restoration_target


@dataclass(frozen=True, slots=True)
class OutageCommand:
    """Who acts on which incident, and when (the command's Telegram time)."""

    incident: Incident
    engineer: TelegramUser
    at: datetime


def counting(incident: Incident, now: datetime) -> Counting:
    """The engine's reading of one incident, as the report would make it up to `now`."""
    record, service = incident_record_of(incident), service_record_of(incident.service)
    interval = counting_interval(record, now)
    reason: str | None = None
    not_counted = not_counted_reason(record, service)
    if not_counted is not None:
        reason = not_counted.value
    elif record.exclusion is not None:
        reason = "excluded"
    elif not sla_applies(service):
        reason = "no_sla"
    downtime = interval.duration if interval is not None and reason is None else timedelta()
    return Counting(
        counted=reason is None,
        reason=reason,
        start=interval.start if interval is not None else None,
        end=interval.end if interval is not None and record.restored_at is not None else None,
        downtime=downtime,
    )


async def open_outage(
    incidents: IncidentService,
    ticket: Ticket,
    service_id: int,
    engineer: TelegramUser,
    notice: tuple[datetime, str],
) -> Outcome:
    """`/outage`: the ticket reported an outage of the service at `notice` (its time and
    where that came from: a stated time, the message replied to, or the client's last)."""
    notice_at, notice_from = notice
    report = Report(service_id, NoticeSource.ENGINEER, notice_at, ticket, engineer)
    try:
        placed = await incidents.report(report)
    except CrmError:
        return told(ServiceNotOfCustomer(service_id))
    incident = placed.incident
    noticed = OutageNoticed(
        incident, ticket, NoticeSource.ENGINEER.value, notice_at, placed.opened,
        who=engineer.full_name,
    )  # fmt: skip
    opened = OutageOpened(incident, incident_start(incident), placed.opened, notice_at, notice_from)
    return told(opened, noticed, ticket=ticket)


async def confirm_outage(incidents: IncidentService, c: OutageCommand, layer: Layer) -> Outcome:
    incident = await incidents.confirm(c.incident, layer, c.engineer, c.at)
    tickets = await incidents.tickets_of(incident)
    return told(OutageConfirmed(incident, layer, tickets, counting(incident, c.at)))


async def reject_outage(incidents: IncidentService, c: OutageCommand, reason: str) -> Outcome:
    incident = await incidents.reject(c.incident, reason, c.engineer, c.at)
    return told(OutageRejected(incident, reason, await incidents.tickets_of(incident)))


async def restore_outage(
    incidents: IncidentService,
    c: OutageCommand,
    restored_at: datetime,
    *,
    stated: bool,
    correction: str | None = None,
) -> Outcome:
    previous = c.incident.restored_at
    try:
        incident = await incidents.restore(
            c.incident, restored_at, c.engineer, stated=stated, message_time=c.at,
            correction=correction,
        )  # fmt: skip
    except CrmError as error:
        return told(_restore_refusal(c.incident, error, restored_at))
    tickets = await incidents.tickets_of(incident)
    return told(
        OutageRestored(
            incident, restored_at, tickets, counting(incident, c.at),
            corrected_from=previous if correction is not None else None,
            start=incident_start(incident),
        )
    )  # fmt: skip


def _restore_refusal(
    incident: Incident, error: CrmError, restored_at: datetime
) -> RestoreRefused | RestoredBeforeStart | RestoredInFuture:
    if error.code == "restored_before_start":
        return RestoredBeforeStart(restored_at, error.params["start"])
    if error.code == "restored_in_future":
        return RestoredInFuture(restored_at)
    return RestoreRefused(
        incident,
        error.code,
        restored_at=incident.restored_at,
        rejected_reason=incident.rejected_reason,
    )


async def exclude_outage(
    incidents: IncidentService, c: OutageCommand, exclusion: Exclusion, note: str | None
) -> Outcome:
    incident = await incidents.exclude(c.incident, exclusion, note, c.engineer, c.at)
    return told(OutageExcluded(incident, exclusion, await incidents.tickets_of(incident)))


async def set_restoration_type(
    incidents: IncidentService, c: OutageCommand, kind: RestorationType, config: SlaConfig
) -> Outcome:
    incident = await incidents.set_restoration_type(c.incident, kind, c.engineer, c.at)
    target = restoration_target(kind, config)
    return told(RestorationTypeSet(incident, kind, target))


async def record_data_loss(incidents: IncidentService, c: OutageCommand) -> Outcome:
    incident = await incidents.mark_data_loss(c.incident, c.engineer, c.at)
    record, service = incident_record_of(incident), service_record_of(incident.service)
    reason: str | None = None
    if not data_loss_credit_applies(record, service):
        if not sla_applies(service):
            reason = "no_sla"
        elif during_trial(record, service):
            reason = "trial"
        elif record.status is not IncidentStatus.CONFIRMED:
            reason = "not_confirmed"
        elif not provider_is_responsible(service.service_type, record.layer):
            reason = "customer_layer"
        else:
            reason = "excluded"
    tickets = await incidents.tickets_of(incident)
    return told(DataLossRecorded(incident, tickets, reason))


# -- outages of several services ------------------------------------------------------------


async def _target_refusal(incidents: IncidentService, into: Incident) -> MergeRefused | None:
    """The outage gathered into must still run (some member open) and not be rejected."""
    lead = await incidents.lead_of(into)
    if lead.status is IncidentStatus.REJECTED:
        return MergeRefused(into.id, "rejected", target=True)
    if lead.exclusion is not None:
        return MergeRefused(into.id, "excluded", target=True)
    if not await incidents.outage_running(lead):
        return MergeRefused(into.id, "closed", target=True)
    return None


async def merge_outages(
    incidents: IncidentService, target: Incident | int, numbers: Sequence[int],
    engineer: TelegramUser, at: datetime,
) -> Outcome:  # fmt: skip
    """`/merge #A #B`: the named incidents join the outage of `target` (the room's incident,
    or the number named first). All or nothing: one that cannot join refuses the command."""
    into = await incidents.get(target) if isinstance(target, int) else target
    if into is None:
        assert isinstance(target, int)
        return told(MergeRefused(target, "unknown", target=True))
    refusal = await _target_refusal(incidents, into)
    if refusal is not None:
        return told(refusal)
    lead = await incidents.lead_of(into)
    chosen: list[Incident] = []
    for number in numbers:
        incident = await incidents.get(number)
        if incident is None:
            return told(MergeRefused(number, "unknown"))
        if incident.id in (into.id, lead.id):
            return told(MergeRefused(number, "itself"))
        reason = incidents.merge_refusal(incident)
        if reason is not None:
            return told(MergeRefused(number, reason))
        chosen.append(incident)
    gathered = await incidents.merge(into, chosen, engineer, at)
    members = await incidents.outage_members(gathered.lead)
    return told(OutagesMerged(gathered.lead, gathered.joined, gathered.rooms, members))


async def gather_site(incidents: IncidentService, c: OutageCommand, site: str) -> Outcome:
    """`/site DC1`: every running incident at the site joins this outage, and so does each
    new report of a service there while it runs."""
    known = sorted(await incidents.sites())
    named = next((k for k in known if k.casefold() == site.casefold()), None)
    if named is None:
        return told(UnknownSite(site, known))
    refusal = await _target_refusal(incidents, c.incident)
    if refusal is not None:
        return told(refusal)
    gathered = await incidents.gather_site(c.incident, named, c.engineer, c.at)
    members = await incidents.outage_members(gathered.lead)
    return told(OutagesMerged(gathered.lead, gathered.joined, gathered.rooms, members, named))
