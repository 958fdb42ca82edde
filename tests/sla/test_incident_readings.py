"""Readings of incident evidence chosen for issue 9, as table tests named by clause."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sla.credits import data_loss_credit_applies
from sla.downtime import evidence_end, service_downtime
from sla.intervals import month_bounds
from sla.model import Exclusion, IncidentRecord, IncidentStatus, Layer, RestorationType, ServiceType
from sla.targets import Outcome, restoration_check
from tests.sla.factories import (
    AFTER_APRIL,
    ALMATY,
    DEFAULT_CONFIG,
    THIRTY_DAY_MONTH,
    almaty,
    minutes,
    outage,
    service,
)

NOON = almaty(2026, 4, 10, 12)
APRIL = month_bounds(THIRTY_DAY_MONTH, ALMATY)


def counted(*incidents: IncidentRecord) -> timedelta:
    return service_downtime(service(), incidents, (), APRIL, AFTER_APRIL).counted


def monitored(
    incident_id: int, start: datetime, end: datetime | None, **overrides: object
) -> IncidentRecord:
    """An incident monitoring saw, not (yet) confirmed by an engineer."""
    base = IncidentRecord(
        incident_id=incident_id, service_id=1, monitoring_start_at=start, monitoring_end_at=end
    )
    return IncidentRecord(**{**base.__dict__, **overrides})


@pytest.mark.parametrize(
    ("last_client_notice", "expected_end"),
    [
        (None, NOON + minutes(30)),  # monitoring alone: its end is the end
        (NOON + minutes(10), NOON + minutes(30)),  # the client reported before the recovery
        (NOON + minutes(40), None),  # the client says "still down" after it: still open
    ],
)
def test_a_monitoring_end_ends_the_outage_only_after_the_last_client_notice_a_5_12(
    last_client_notice: datetime | None, expected_end: datetime | None
) -> None:
    incident = monitored(
        1, NOON, NOON + minutes(30),
        client_notice_at=last_client_notice, last_client_notice_at=last_client_notice,
    )  # fmt: skip
    assert evidence_end(incident) == expected_end


def test_a_repeat_outage_is_a_second_incident_and_the_gap_between_never_counts_a_5_12() -> None:
    first = outage(1, NOON, minutes(60))
    second = outage(2, NOON + timedelta(days=1), minutes(30))
    assert counted(first, second) == minutes(90)


def test_monitoring_and_a_report_of_one_outage_count_once_from_the_earlier_start_a_5_12() -> None:
    joined = outage(1, NOON, minutes(60), monitoring_start_at=NOON - minutes(10))
    assert counted(joined) == minutes(70)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [(Layer.OS, minutes(0)), (Layer.HARDWARE, minutes(120)), (Layer.NETWORK, minutes(120))],
)
def test_a_monitoring_only_incident_counts_unless_confirmed_on_the_customers_layer_a_4_1(
    layer: Layer, expected: timedelta
) -> None:
    confirmed = monitored(
        1, NOON, NOON + minutes(120),
        status=IncidentStatus.CONFIRMED, confirmed_at=NOON + minutes(130), layer=layer,
    )  # fmt: skip
    assert counted(confirmed) == expected


def test_an_excluded_incident_also_removes_overlapping_downtime_of_another_a_5_11() -> None:
    flood = outage(1, NOON, minutes(60), exclusion=Exclusion.FORCE_MAJEURE)
    disk = outage(2, NOON + minutes(30), minutes(60))
    assert counted(flood, disk) == minutes(30)  # 13:00–13:30 only


def test_a_restoration_monitoring_saw_stops_the_restoration_clock_a_5_7() -> None:
    incident = monitored(
        1, NOON, NOON + minutes(40),
        status=IncidentStatus.CONFIRMED, confirmed_at=NOON + minutes(5), layer=Layer.HARDWARE,
        restoration_type=RestorationType.REBOOT,
    )  # fmt: skip
    check = restoration_check(incident, service(), DEFAULT_CONFIG, AFTER_APRIL)
    assert check is not None
    assert (check.outcome, check.elapsed) == (Outcome.MET, minutes(35))


@pytest.mark.parametrize(
    ("status", "layer", "exclusion", "in_dc", "applies"),
    [
        (IncidentStatus.REPORTED, None, None, True, False),  # not confirmed
        (IncidentStatus.CONFIRMED, Layer.DATA, None, True, False),  # the customer's layer
        (IncidentStatus.CONFIRMED, Layer.HARDWARE, None, False, False),  # outside the DC (A 5.4)
        (IncidentStatus.CONFIRMED, Layer.HARDWARE, Exclusion.CLIENT_CAUSED, True, False),
        (IncidentStatus.CONFIRMED, Layer.HARDWARE, None, True, True),
    ],
)
def test_the_data_loss_credit_applies_only_where_the_engine_grants_it_a_5_14(
    status: IncidentStatus,
    layer: Layer | None,
    exclusion: Exclusion | None,
    in_dc: bool,
    applies: bool,
) -> None:
    incident = IncidentRecord(
        incident_id=1, service_id=1, client_notice_at=NOON, status=status, layer=layer,
        confirmed_at=NOON if status is IncidentStatus.CONFIRMED else None, exclusion=exclusion,
        data_loss=True,
    )  # fmt: skip
    dedicated = service(service_type=ServiceType.DEDICATED, in_provider_dc=in_dc)
    assert data_loss_credit_applies(incident, dedicated) is applies
