"""From incident evidence to counted downtime of one service in one month.

Terms A 5.12 / B 5.8 define downtime as the interval in the provider's internal data
"and/or" the interval from the client's notification, once the provider has confirmed the
fact, until the service resumes after restoration. Reading chosen for AMB-12:

* monitoring evidence counts on its own, confirmed or not (it is the provider's own data);
* the client's notification counts only once the provider has confirmed the incident;
* when both exist the earlier start wins (the "and/or" is read as a union of the two);
* a rejected incident never counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sla.intervals import (
    Interval,
    clip,
    disjoint_duration,
    intersect_sets,
    intersection,
    subtract,
    union,
)
from sla.model import IncidentRecord, IncidentStatus, MaintenanceWindow, ServiceRecord
from sla.responsibility import provider_is_responsible


class NotCountedReason(StrEnum):
    REJECTED = "rejected"
    # AMB-12: a client notice alone counts only after the provider confirms it.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    # A 4.1 / B 4.1: the failed layer is the customer's.
    CUSTOMER_LAYER = "customer_layer"
    NO_EVIDENCE = "no_evidence"


def reported_start(incident: IncidentRecord) -> datetime | None:
    """Earliest evidence of any kind; shown in reports and used to place the incident in a
    month, whether or not it counts."""
    notice, monitoring = incident.client_notice_at, incident.monitoring_start_at
    if notice is not None:
        return notice if monitoring is None or notice <= monitoring else monitoring
    if monitoring is not None:
        return monitoring
    # Confirmation is itself provider evidence that the service was down at that moment.
    return incident.confirmed_at


def evidence_end(incident: IncidentRecord) -> datetime | None:
    """Restoration, else the end seen by monitoring; None while the incident is open.

    A monitoring end counts only when it comes after the latest client notice: a client
    who reports the service down after monitoring saw it recover is evidence that it is
    not recovered, so the outage runs until an engineer records the restoration.
    """
    if incident.restored_at is not None:
        return incident.restored_at
    end = incident.monitoring_end_at
    last_notice = incident.last_client_notice_at
    if end is not None and last_notice is not None and end < last_notice:
        return None
    return end


def counting_start(incident: IncidentRecord) -> datetime | None:
    """Where counted downtime begins under the AMB-12 reading in this module's docstring."""
    if incident.status is IncidentStatus.REJECTED:
        return None
    if incident.status is IncidentStatus.CONFIRMED:
        return reported_start(incident)
    return incident.monitoring_start_at


def counting_interval(incident: IncidentRecord, now: datetime) -> Interval | None:
    """The downtime this incident evidences, up to `now` at the latest (open incidents run
    until now), or None when it evidences none."""
    start = counting_start(incident)
    if start is None:
        return None
    end = evidence_end(incident)
    end = now if end is None else min(end, now)
    return Interval(start, end) if start < end else None


def not_counted_reason(incident: IncidentRecord, service: ServiceRecord) -> NotCountedReason | None:
    """Why an incident contributes nothing to downtime, or None when it may count."""
    if incident.status is IncidentStatus.REJECTED:
        return NotCountedReason.REJECTED
    if not provider_is_responsible(service.service_type, incident.layer):
        return NotCountedReason.CUSTOMER_LAYER
    if counting_start(incident) is None:
        if incident.client_notice_at is not None:
            return NotCountedReason.AWAITING_CONFIRMATION
        return NotCountedReason.NO_EVIDENCE
    return None


def active_period(service: ServiceRecord, window: Interval, now: datetime) -> Interval | None:
    """Where the service was active inside `window`, up to `now` (a running month is
    reported to date, so time that has not happened yet is not active time)."""
    end = min(window.end, now)
    if service.active_to is not None:
        end = min(end, service.active_to)
    start = max(window.start, service.active_from)
    if not start < end:
        return None
    if start == window.start and end == window.end:
        return window  # active all of it (most services): the window itself, frozen
    return Interval(start, end)


def exclusion_intervals(
    service: ServiceRecord,
    incidents: Iterable[IncidentRecord],
    maintenance: Iterable[MaintenanceWindow],
    now: datetime,
) -> tuple[Interval, ...]:
    """Time that is never compensated: planned works (A 5.10 / B 5.6) and incidents marked
    force majeure, client-caused or maintenance (A 5.11 / B 5.7).

    An excluded incident's interval is excluded for the whole service, so it also removes
    downtime of another incident overlapping it: while the cause the terms exempt held, the
    service was down because of it whatever else failed too (issue 9's reading).
    """
    spans = [
        Interval(window.start, window.end)
        for window in maintenance
        if not window.cancelled and window.service_id in (None, service.service_id)
    ]
    for incident in incidents:
        if incident.service_id != service.service_id or incident.exclusion is None:
            continue
        interval = counting_interval(incident, now)
        if interval is not None:
            spans.append(interval)
    return tuple(spans)


@dataclass(frozen=True)
class IncidentDowntime:
    """One incident's share of a month. Overlapping incidents each show their full share,
    so these may sum to more than the service's downtime, which counts overlaps once."""

    incident: IncidentRecord
    start: datetime | None
    end: datetime | None
    not_counted_reason: NotCountedReason | None
    counted: timedelta
    excluded: timedelta


@dataclass(frozen=True)
class ServiceDowntime:
    """Downtime of one service in one month. `raw` is eligible downtime before the
    exclusions; `counted` + `excluded` == `raw`."""

    active: timedelta
    raw: timedelta
    excluded: timedelta
    counted: timedelta
    counted_intervals: tuple[Interval, ...]
    incidents: tuple[IncidentDowntime, ...]


# An incident as `service_downtime` reads it: why it does not count, its interval, the
# part of that interval inside the month's active period, and its reported start.
_Reading = tuple[
    IncidentRecord, NotCountedReason | None, Interval | None, tuple[Interval, ...], datetime | None
]


def service_downtime(
    service: ServiceRecord,
    incidents: Iterable[IncidentRecord],
    maintenance: Iterable[MaintenanceWindow],
    window: Interval,
    now: datetime,
) -> ServiceDowntime:
    """Counted downtime: the union of eligible incident intervals (overlaps once), clipped
    to the month and to the service's active period, minus the exclusions."""
    own_incidents = [i for i in incidents if i.service_id == service.service_id]
    period = active_period(service, window, now)
    if not own_incidents:
        # What the lines below give without incidents (most services, most months).
        active = period.duration if period is not None else timedelta()
        return ServiceDowntime(active, timedelta(), timedelta(), timedelta(), (), ())
    eligible: list[Interval] = []
    readings: list[_Reading] = []
    for incident in own_incidents:
        reason = not_counted_reason(incident, service)
        interval = counting_interval(incident, now)
        in_month: tuple[Interval, ...] = ()
        if reason is None and interval is not None and period is not None:
            in_month = clip([interval], period)
            eligible.extend(in_month)
        readings.append((incident, reason, interval, in_month, reported_start(incident)))
    # Each eligible part lies inside `period` already: their union is the clipped union.
    raw = union(eligible)

    # Only the exclusions that share an instant with the eligible downtime change a figure
    # (every `in_month` lies inside `raw`): a hundred planned works in a month need not be
    # sorted again for each incident of each service.
    def overlaps_raw(start: datetime, end: datetime) -> bool:
        for part in raw:  # noqa: SIM110 (a loop: no generator per span)
            if start < part.end and part.start < end:
                return True
        return False

    exclusions: tuple[Interval, ...] = ()
    if raw:
        # `raw` is sorted: a window outside its hull overlaps none of it.
        low, high = raw[0].start, raw[-1].end
        windows = [window for window in maintenance if window.start < high and low < window.end]
        exclusions = tuple(
            span
            for span in union(exclusion_intervals(service, own_incidents, windows, now))
            if overlaps_raw(span.start, span.end)
        )
    lines: list[IncidentDowntime] = []
    for incident, reason, interval, in_month, start in readings:
        if not _belongs_to_month(incident, interval, window, start):
            continue
        lines.append(
            IncidentDowntime(
                incident=incident,
                start=start,
                end=evidence_end(incident),
                not_counted_reason=reason,
                # `in_month`, `raw` and what is cut from them share no instant within.
                counted=disjoint_duration(
                    subtract(in_month, exclusions) if exclusions else in_month
                ),
                excluded=(
                    disjoint_duration(intersect_sets(in_month, exclusions))
                    if exclusions
                    else timedelta()
                ),
            )
        )
    lines.sort(key=lambda line: (line.start is None, line.start, line.incident.incident_id))
    raw_duration = disjoint_duration(raw)
    # `raw` is a union: subtracting nothing (most services) gives it back, as it is.
    counted_intervals = subtract(raw, exclusions) if exclusions else raw
    return ServiceDowntime(
        active=period.duration if period is not None else timedelta(),
        raw=raw_duration,
        excluded=disjoint_duration(intersect_sets(raw, exclusions)) if exclusions else timedelta(),
        counted=disjoint_duration(counted_intervals) if exclusions else raw_duration,
        counted_intervals=counted_intervals,
        incidents=tuple(lines),
    )


def _belongs_to_month(
    incident: IncidentRecord, interval: Interval | None, window: Interval, start: datetime | None
) -> bool:
    """An incident is listed in the month it started (`start`: its `reported_start`) or was
    confirmed in, and in every month it counted in; an open, unconfirmed client report is
    not dragged into later months."""
    for moment in (start, incident.confirmed_at):
        if moment is not None and window.contains(moment):
            return True
    return interval is not None and intersection(interval, window) is not None
