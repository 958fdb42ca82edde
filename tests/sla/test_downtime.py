"""Counted downtime of one service in one month (terms A 5.10-5.12 / B 5.6-5.8)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sla import (
    Exclusion,
    IncidentRecord,
    IncidentStatus,
    Layer,
    MaintenanceWindow,
    NotCountedReason,
    ServiceDowntime,
    ServiceType,
    month_bounds,
    service_downtime,
)
from tests.sla.factories import (
    AFTER_APRIL,
    ALMATY,
    THIRTY_DAY_MONTH,
    almaty,
    maintenance,
    minutes,
    outage,
    report,
    service,
)

APRIL = month_bounds(THIRTY_DAY_MONTH, ALMATY)
NOON = almaty(2026, 4, 10, 12)


def april_downtime(
    incidents: list[IncidentRecord],
    windows: tuple[MaintenanceWindow, ...] = (),
    *,
    service_type: ServiceType = ServiceType.DEDICATED,
    now: datetime = AFTER_APRIL,
) -> ServiceDowntime:
    return service_downtime(service(service_type=service_type), incidents, windows, APRIL, now)


def test_os_fault_on_dedicated_server_is_not_counted() -> None:  # A 4.1
    result = april_downtime([outage(1, NOON, minutes(90), layer=Layer.OS)])
    assert result.counted == timedelta()
    assert result.incidents[0].not_counted_reason is NotCountedReason.CUSTOMER_LAYER


def test_os_fault_on_object_storage_is_counted() -> None:  # B 4.1
    result = april_downtime(
        [outage(1, NOON, minutes(90), layer=Layer.OS)], service_type=ServiceType.OBJECT_STORAGE
    )
    assert result.counted == minutes(90)


def test_data_layer_fault_on_object_storage_is_not_counted() -> None:  # B 4.1
    result = april_downtime(
        [outage(1, NOON, minutes(90), layer=Layer.DATA)], service_type=ServiceType.OBJECT_STORAGE
    )
    assert result.counted == timedelta()


def test_overlapping_incidents_count_once() -> None:
    result = april_downtime(
        [
            outage(1, NOON, minutes(60)),
            outage(2, NOON + minutes(30), minutes(60), layer=Layer.NETWORK),
        ]
    )
    assert result.counted == minutes(90)
    # each incident still shows its own full share
    assert [line.counted for line in result.incidents] == [minutes(60), minutes(60)]


def test_maintenance_overlapping_an_outage_is_excluded() -> None:  # A 5.10 / B 5.6
    result = april_downtime(
        [outage(1, NOON, minutes(60))], (maintenance(NOON + minutes(30), minutes(120)),)
    )
    assert result.counted == minutes(30)
    assert result.excluded == minutes(30)
    assert result.raw == minutes(60)


def test_cancelled_maintenance_excludes_nothing() -> None:  # A 5.10
    result = april_downtime(
        [outage(1, NOON, minutes(60))], (maintenance(NOON, minutes(60), cancelled=True),)
    )
    assert result.counted == minutes(60)


@pytest.mark.parametrize(("window_service", "excluded"), [(None, 60), (1, 60), (2, 0)])
def test_maintenance_applies_to_its_service_or_to_all(  # A 5.10
    window_service: int | None, excluded: int
) -> None:
    result = april_downtime(
        [outage(1, NOON, minutes(60))], (maintenance(NOON, minutes(60), service_id=window_service),)
    )
    assert result.excluded == minutes(excluded)


@pytest.mark.parametrize("exclusion", list(Exclusion))
def test_incident_marked_as_exclusion_is_not_compensated(  # A 5.10, 5.11 / B 5.6, 5.7
    exclusion: Exclusion,
) -> None:
    result = april_downtime([outage(1, NOON, minutes(60), exclusion=exclusion)])
    assert result.counted == timedelta()
    assert result.excluded == minutes(60)


def test_force_majeure_interval_removes_overlapping_downtime_of_other_incidents() -> None:
    result = april_downtime(
        [
            outage(1, NOON, minutes(60)),
            outage(2, NOON + minutes(45), minutes(60), exclusion=Exclusion.FORCE_MAJEURE),
        ]
    )
    assert result.counted == minutes(45)
    assert result.excluded == minutes(60)


def test_rejected_incident_never_counts() -> None:
    rejected = outage(1, NOON, minutes(60), status=IncidentStatus.REJECTED)
    result = april_downtime([rejected])
    assert result.counted == timedelta()
    assert result.incidents[0].not_counted_reason is NotCountedReason.REJECTED


def test_unconfirmed_client_notice_does_not_count() -> None:  # A 5.12 / B 5.8, AMB-12
    reported = IncidentRecord(1, 1, client_notice_at=NOON, restored_at=NOON + minutes(60))
    result = april_downtime([reported])
    assert result.counted == timedelta()
    assert result.incidents[0].not_counted_reason is NotCountedReason.AWAITING_CONFIRMATION


def test_monitoring_evidence_counts_without_confirmation() -> None:  # A 5.12 / B 5.8, AMB-12
    seen = IncidentRecord(1, 1, monitoring_start_at=NOON, monitoring_end_at=NOON + minutes(20))
    assert april_downtime([seen]).counted == minutes(20)


def test_unconfirmed_incident_counts_only_from_monitoring_start() -> None:  # AMB-12
    both = IncidentRecord(
        1,
        1,
        client_notice_at=NOON,
        monitoring_start_at=NOON + minutes(10),
        monitoring_end_at=NOON + minutes(30),
    )
    assert april_downtime([both]).counted == minutes(20)


def test_confirmed_incident_counts_from_earliest_evidence() -> None:  # A 5.12 / B 5.8
    incident = outage(1, NOON, minutes(60), monitoring_start_at=NOON - minutes(15))
    result = april_downtime([incident])
    assert result.counted == minutes(75)
    assert result.incidents[0].start == NOON - minutes(15)


def test_restoration_time_wins_over_monitoring_end() -> None:
    incident = outage(1, NOON, minutes(60), monitoring_end_at=NOON + minutes(20))
    assert april_downtime([incident]).counted == minutes(60)


def test_monitoring_end_closes_incident_without_restoration_mark() -> None:
    incident = outage(1, NOON, None, monitoring_end_at=NOON + minutes(20))
    assert april_downtime([incident]).counted == minutes(20)


def test_open_incident_runs_until_now() -> None:
    now = NOON + minutes(100)
    result = april_downtime([outage(1, NOON, None)], now=now)
    assert result.counted == minutes(100)
    assert result.incidents[0].end is None


def test_incident_crossing_midnight_at_month_end_is_split_between_months() -> None:
    # 2026-03-31 23:30 to 2026-04-01 00:40 in Asia/Almaty (UTC+5).
    incident = outage(1, almaty(2026, 3, 31, 23, 30), minutes(70))
    march = report("2026-03", [service()], [incident])
    april = report("2026-04", [service()], [incident])
    assert march.services[0].downtime.counted == minutes(30)
    assert april.services[0].downtime.counted == minutes(40)
    assert len(march.services[0].incidents) == len(april.services[0].incidents) == 1


def test_downtime_is_clipped_to_the_service_active_period() -> None:
    started_mid_month = service(active_from=almaty(2026, 4, 16))
    incident = outage(1, almaty(2026, 4, 15, 23), minutes(120))
    result = report(THIRTY_DAY_MONTH, [started_mid_month], [incident]).services[0]
    assert result.downtime.active == timedelta(days=15)
    assert result.downtime.counted == minutes(60)


def test_running_month_counts_active_time_only_until_now() -> None:
    now = almaty(2026, 4, 11)
    result = report(THIRTY_DAY_MONTH, [service()], now=now).services[0]
    assert result.downtime.active == timedelta(days=10)


def test_counted_plus_excluded_equals_raw_downtime() -> None:
    result = april_downtime(
        [outage(1, NOON, minutes(200)), outage(2, NOON + minutes(500), minutes(50))],
        (maintenance(NOON + minutes(100), minutes(450)),),
    )
    assert result.counted + result.excluded == result.raw
    assert (result.counted, result.excluded) == (minutes(100), minutes(150))
