"""Response, processing and restoration targets and their statistics
(terms A 5.2, 5.7 / B 5.2, 5.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sla import (
    Channel,
    IncidentStatus,
    Layer,
    Outcome,
    RestorationType,
    ServiceType,
    SlaConfig,
    first_response_check,
    nearest_rank_percentile,
    processing_check,
    restoration_check,
    summarize,
)
from tests.sla.factories import almaty, minutes, outage, service, ticket

CONFIG = SlaConfig()
OPENED = almaty(2026, 4, 10, 9)
LATER = almaty(2026, 5, 1)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("channel", "response", "outcome"),
    [
        (Channel.TELEGRAM, minutes(10), Outcome.MET),  # A 5.2: "up to 10 minutes"
        (Channel.TELEGRAM, minutes(10) + SECOND, Outcome.BREACHED),
        (Channel.EMAIL, timedelta(hours=24), Outcome.MET),  # A 5.2: "up to 24 hours"
        (Channel.EMAIL, timedelta(hours=24) + SECOND, Outcome.BREACHED),
        (Channel.PHONE, timedelta(hours=30), Outcome.NO_TARGET),  # no phone target in terms
    ],
)
def test_first_response_targets_per_channel(  # A 5.2 / B 5.2
    channel: Channel, response: timedelta, outcome: Outcome
) -> None:
    check = first_response_check(ticket(1, OPENED, response, channel=channel), CONFIG, LATER)
    assert check.outcome is outcome


@pytest.mark.parametrize(
    ("channel", "response", "outcome"),
    [
        (Channel.TELEGRAM, minutes(60), Outcome.MET),  # emergency target, default 60 min
        (Channel.TELEGRAM, minutes(61), Outcome.BREACHED),
        (Channel.EMAIL, timedelta(hours=23), Outcome.MET),  # "increased", never shortened
        (Channel.PHONE, timedelta(hours=2), Outcome.NO_TARGET),
    ],
)
def test_emergency_target_only_lengthens_the_normal_target(  # A 5.2 / B 5.2
    channel: Channel, response: timedelta, outcome: Outcome
) -> None:
    emergency_ticket = ticket(1, OPENED, response, channel=channel, emergency=True)
    assert first_response_check(emergency_ticket, CONFIG, LATER).outcome is outcome


def test_emergency_target_is_configurable() -> None:
    config = SlaConfig(emergency_first_response=minutes(30))
    late = ticket(1, OPENED, minutes(31), emergency=True)
    assert first_response_check(late, config, LATER).outcome is Outcome.BREACHED


def test_unanswered_ticket_is_pending_until_due_then_breached() -> None:
    unanswered = ticket(1, OPENED, None)
    assert first_response_check(unanswered, CONFIG, OPENED + minutes(10)).outcome is (
        Outcome.PENDING
    )
    assert first_response_check(unanswered, CONFIG, OPENED + minutes(10) + SECOND).outcome is (
        Outcome.BREACHED
    )


def test_first_response_statistics_use_median_and_nearest_rank_p90() -> None:
    responses = [1, 2, 3, 4, 5, 6, 7, 8, 9, 30]
    checks = [
        first_response_check(ticket(100 + i, OPENED + minutes(i), minutes(m)), CONFIG, LATER)
        for i, m in enumerate(responses)
    ]
    stats = summarize(checks)
    assert stats.median == minutes(5.5)
    # nearest rank: ceil(0.9 × 10) = 9th value; linear interpolation would give 11.1
    assert stats.p90 == minutes(9)
    assert stats.within_target_percent == 90
    assert [c.ticket_number for c in stats.breaches] == [109]


def test_open_breach_counts_against_share_but_not_in_median() -> None:
    checks = [
        first_response_check(ticket(1, OPENED, minutes(4)), CONFIG, LATER),
        first_response_check(ticket(2, OPENED, None), CONFIG, LATER),  # never answered
        first_response_check(ticket(3, LATER, None), CONFIG, LATER),  # just opened: pending
    ]
    stats = summarize(checks)
    assert (stats.count, stats.measured, stats.pending) == (3, 2, 1)
    assert stats.within_target_percent == 50
    assert stats.median == minutes(4)
    assert [c.ticket_number for c in stats.breaches] == [2]


def test_phone_tickets_are_left_out_of_first_response_statistics() -> None:
    checks = [
        first_response_check(ticket(1, OPENED, minutes(500), channel=Channel.PHONE), CONFIG, LATER),
        first_response_check(ticket(2, OPENED, minutes(2)), CONFIG, LATER),
    ]
    stats = summarize(checks)
    assert (stats.count, stats.without_target, stats.measured) == (2, 1, 1)
    assert stats.median == minutes(2)
    assert stats.within_target_percent == 100


def test_statistics_of_nothing_are_empty() -> None:
    stats = summarize([])
    assert (stats.count, stats.median, stats.p90, stats.within_target_percent) == (
        0,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [([5], 90, 5), ([1, 2], 50, 1), ([1, 2], 51, 2), ([3, 1, 2], 100, 3), ([4, 1, 3, 2], 90, 4)],
)
def test_nearest_rank_percentile(values: list[int], percent: int, expected: int) -> None:
    assert nearest_rank_percentile([minutes(v) for v in values], percent) == minutes(expected)


@pytest.mark.parametrize(
    ("resolved_after", "outcome"),
    [
        (timedelta(hours=24), Outcome.MET),
        (timedelta(hours=24) + SECOND, Outcome.BREACHED),
        (None, Outcome.BREACHED),  # still open long after the 24 h
    ],
)
def test_object_storage_request_is_processed_within_24_hours(  # B 5.3, AMB-17
    resolved_after: timedelta | None, outcome: Outcome
) -> None:
    request = ticket(
        1,
        OPENED,
        minutes(1),
        service_type=ServiceType.OBJECT_STORAGE,
        resolved_after=resolved_after,
    )
    check = processing_check(request, CONFIG, LATER)
    assert check is not None and check.outcome is outcome


def test_processing_target_is_only_for_object_storage() -> None:  # B 5.3 has no A twin
    request = ticket(1, OPENED, minutes(1), service_type=ServiceType.DEDICATED)
    assert processing_check(request, CONFIG, LATER) is None


@pytest.mark.parametrize(
    ("restoration_type", "took", "outcome"),
    [
        (RestorationType.REBOOT, minutes(45), Outcome.MET),  # A 5.7 row 1
        (RestorationType.REBOOT, minutes(46), Outcome.BREACHED),
        (RestorationType.REPAIR, timedelta(hours=8), Outcome.MET),  # A 5.7 row 2
        (RestorationType.REPAIR, timedelta(hours=8, minutes=1), Outcome.BREACHED),
    ],
)
def test_equipment_restoration_targets(  # A 5.7
    restoration_type: RestorationType, took: timedelta, outcome: Outcome
) -> None:
    confirmed = OPENED + minutes(30)  # measured from confirmation, not from the notice
    incident = outage(
        1,
        OPENED,
        None,
        confirmed_at=confirmed,
        restored_at=confirmed + took,
        restoration_type=restoration_type,
    )
    check = restoration_check(incident, service(), CONFIG, LATER)
    assert check is not None and check.outcome is outcome
    assert check.elapsed == took


def test_unrestored_equipment_is_pending_until_target_passes() -> None:  # A 5.7
    incident = outage(1, OPENED, None, restoration_type=RestorationType.REBOOT)
    pending = restoration_check(incident, service(), CONFIG, OPENED + minutes(45))
    breached = restoration_check(incident, service(), CONFIG, OPENED + minutes(46))
    assert pending is not None and pending.outcome is Outcome.PENDING
    assert breached is not None and breached.outcome is Outcome.BREACHED


@pytest.mark.parametrize(
    ("incident_changes", "service_changes"),
    [
        ({"layer": Layer.OS}, {}),  # A 4.1: not the provider's equipment
        ({"restoration_type": None}, {}),
        ({"status": IncidentStatus.REJECTED}, {}),
        ({}, {"in_provider_dc": False}),  # A 5.4
        ({}, {"service_type": ServiceType.OBJECT_STORAGE}),  # B has no restoration table
    ],
)
def test_restoration_target_applies_only_to_confirmed_dedicated_equipment(
    incident_changes: dict[str, Any], service_changes: dict[str, Any]
) -> None:
    fields: dict[str, Any] = {"restoration_type": RestorationType.REBOOT, **incident_changes}
    incident = outage(1, OPENED, minutes(300), **fields)
    assert restoration_check(incident, service(**service_changes), CONFIG, LATER) is None
