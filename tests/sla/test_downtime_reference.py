"""`service_downtime` takes shortcuts for the report at 100k services (no incidents: no
interval algebra; planned works away from any downtime: not sorted again for each
incident). The figures are those of the plain reading, kept here as the reference."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sla import IncidentRecord, MaintenanceWindow, ServiceRecord, month_bounds
from sla.config import SlaConfig
from sla.downtime import (
    IncidentDowntime,
    ServiceDowntime,
    _belongs_to_month,
    active_period,
    counting_interval,
    evidence_end,
    exclusion_intervals,
    not_counted_reason,
    reported_start,
    service_downtime,
)
from sla.intervals import Interval, clip, intersect_sets, subtract, total_duration
from sla.model import IncidentStatus, Layer, ServiceType
from tests.sla.factories import service
from tests.sla.test_properties import MARCH_START, active_starts, incidents, nows


def reference_downtime(
    service: ServiceRecord,
    incidents: Iterable[IncidentRecord],
    maintenance: Iterable[MaintenanceWindow],
    window: Interval,
    now: datetime,
) -> ServiceDowntime:
    """`service_downtime` as it read before the shortcuts."""
    own_incidents = [i for i in incidents if i.service_id == service.service_id]
    period = active_period(service, window, now)
    exclusions = exclusion_intervals(service, own_incidents, maintenance, now)
    eligible: list[Interval] = []
    lines: list[IncidentDowntime] = []
    for incident in own_incidents:
        reason = not_counted_reason(incident, service)
        interval = counting_interval(incident, now)
        in_month: tuple[Interval, ...] = ()
        if reason is None and interval is not None and period is not None:
            in_month = clip([interval], period)
            eligible.extend(in_month)
        if not _belongs_to_month(incident, interval, window, reported_start(incident)):
            continue
        lines.append(
            IncidentDowntime(
                incident=incident,
                start=reported_start(incident),
                end=evidence_end(incident),
                not_counted_reason=reason,
                counted=total_duration(subtract(in_month, exclusions)),
                excluded=total_duration(intersect_sets(in_month, exclusions)),
            )
        )
    raw = clip(eligible, period) if period is not None else ()
    counted_intervals = subtract(raw, exclusions)
    lines.sort(key=lambda line: (line.start is None, line.start, line.incident.incident_id))
    return ServiceDowntime(
        active=period.duration if period is not None else timedelta(),
        raw=total_duration(raw),
        excluded=total_duration(intersect_sets(raw, exclusions)),
        counted=total_duration(counted_intervals),
        counted_intervals=counted_intervals,
        incidents=tuple(lines),
    )


@st.composite
def outages_and_windows(draw: st.DrawFn) -> tuple[list[IncidentRecord], list[MaintenanceWindow]]:
    """Up to six incidents and a dozen windows (for this service, another one and all),
    most near an incident: across its start or end, inside it, touching it, away."""
    records = [
        draw(incidents(incident_id)) for incident_id in range(1, draw(st.integers(0, 6)) + 1)
    ]
    moments = [MARCH_START] + [
        moment
        for record in records
        for moment in (record.client_notice_at, record.monitoring_start_at, record.restored_at)
        if moment is not None
    ]
    windows = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(st.sampled_from(moments)) + timedelta(minutes=draw(st.integers(-600, 600)))
        length = timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
        windows.append(
            MaintenanceWindow(
                draw(st.sampled_from([None, 1, 2])), start, start + length, draw(st.booleans())
            )
        )
    return records, windows


@settings(max_examples=400, deadline=None)
@given(
    outages_and_windows(),
    st.sampled_from(ServiceType),
    active_starts,
    nows,
    st.sampled_from(["2026-03", "2026-04"]),
)
def test_service_downtime_equals_the_plain_reading(
    outages: tuple[list[IncidentRecord], list[MaintenanceWindow]],
    service_type: ServiceType,
    active_from: datetime,
    now: datetime,
    month: str,
) -> None:
    incident_records, windows = outages
    record = service(service_type=service_type, active_from=active_from)
    window = month_bounds(month, SlaConfig().zone)
    assert service_downtime(record, incident_records, windows, window, now) == reference_downtime(
        record, incident_records, windows, window, now
    )


def test_planned_works_across_the_start_of_an_outage_and_away_from_it() -> None:
    start = MARCH_START + timedelta(days=3)
    outage = IncidentRecord(
        incident_id=1,
        service_id=1,
        ticket_number=1,
        client_notice_at=None,
        monitoring_start_at=start,
        status=IncidentStatus.CONFIRMED,
        confirmed_at=start,
        layer=Layer.HARDWARE,
        restored_at=start + timedelta(hours=3),
    )
    windows = [
        MaintenanceWindow(None, start - timedelta(hours=1), start + timedelta(hours=1)),
        MaintenanceWindow(1, start + timedelta(hours=2), start + timedelta(hours=2, minutes=30)),
        MaintenanceWindow(None, start + timedelta(days=1), start + timedelta(days=1, hours=1)),
    ]
    record = service(service_type=ServiceType.DEDICATED, active_from=MARCH_START)
    window = month_bounds("2026-03", SlaConfig().zone)
    now = MARCH_START + timedelta(days=40)
    downtime = service_downtime(record, [outage], windows, window, now)
    assert downtime == reference_downtime(record, [outage], windows, window, now)
    assert downtime.excluded == timedelta(hours=1, minutes=30)
    assert downtime.counted == timedelta(hours=1, minutes=30)
