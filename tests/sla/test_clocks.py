"""Target clocks: which targets an item carries and when they fall due, before any `now`
(what the live alerts ask; the report checks the same clocks at its `as_of`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla import (
    Channel,
    Layer,
    Outcome,
    RestorationType,
    ServiceType,
    SlaConfig,
    Subject,
    previous_month,
    restoration_clock,
    ticket_clocks,
)
from sla.intervals import short_duration
from tests.sla.factories import ALMATY, almaty, minutes, outage, service, ticket

CONFIG = SlaConfig()
OPENED = almaty(2026, 4, 10, 9)


def test_an_unanswered_storage_ticket_runs_a_response_and_a_processing_clock_B_5_2_5_3() -> None:
    clocks = ticket_clocks(ticket(1, OPENED, None, service_type=ServiceType.OBJECT_STORAGE), CONFIG)
    assert [(c.subject, c.due_at, c.running) for c in clocks] == [
        (Subject.RESPONSE, OPENED + CONFIG.telegram_first_response, True),
        (Subject.PROCESSING, OPENED + CONFIG.object_storage_processing, True),
    ]


def test_an_answered_dedicated_ticket_runs_no_clock() -> None:
    clocks = ticket_clocks(
        ticket(1, OPENED, minutes(3), service_type=ServiceType.DEDICATED), CONFIG
    )
    assert [c.subject for c in clocks] == [Subject.RESPONSE]
    assert not any(c.running for c in clocks)


def test_a_phone_ticket_has_a_clock_without_a_target_so_it_never_runs() -> None:
    (clock,) = ticket_clocks(ticket(1, OPENED, None, channel=Channel.PHONE), CONFIG)
    assert clock.due_at is None and not clock.running
    assert clock.check(OPENED + timedelta(days=30)).outcome is Outcome.NO_TARGET


def test_a_clock_is_breached_only_after_its_due_moment() -> None:
    (clock,) = ticket_clocks(ticket(1, OPENED, None), CONFIG)
    assert clock.due_at is not None
    assert clock.check(clock.due_at).outcome is Outcome.PENDING
    assert clock.check(clock.due_at + timedelta(seconds=1)).outcome is Outcome.BREACHED


@pytest.mark.parametrize(
    ("hosted_in_dc", "layer", "runs"),
    [
        (True, Layer.HARDWARE, True),
        (False, Layer.HARDWARE, False),  # A 5.4: no SLA outside the provider's DC
        (True, Layer.OS, False),  # A 4.1: the OS is the customer's
    ],
)
def test_restoration_runs_only_where_the_provider_answers_for_it_A_4_1_5_4(
    hosted_in_dc: bool, layer: Layer, runs: bool
) -> None:
    incident = outage(1, OPENED, None, layer=layer, restoration_type=RestorationType.REBOOT)
    clock = restoration_clock(incident, service(in_provider_dc=hosted_in_dc), CONFIG)
    assert (clock is not None and clock.running) is runs
    if clock is not None:
        assert clock.due_at == OPENED + CONFIG.reboot_restoration


@pytest.mark.parametrize(
    ("now", "month"),
    [
        (datetime(2026, 3, 1, 10, tzinfo=UTC), "2026-02"),
        # 1 March 00:30 in Almaty is still 28 February in UTC: the provider's zone decides.
        (datetime(2026, 2, 28, 19, 30, tzinfo=UTC), "2026-02"),
        (datetime(2026, 1, 15, tzinfo=UTC), "2025-12"),
    ],
)
def test_the_default_report_month_is_the_previous_one_in_the_providers_zone(
    now: datetime, month: str
) -> None:
    assert previous_month(now, ALMATY) == month


def test_previous_month_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        previous_month(datetime(2026, 3, 1), ALMATY)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (CONFIG.reboot_restoration, "45 min"),
        (CONFIG.repair_restoration, "8 h"),
        (timedelta(minutes=90), "1 h 30 min"),
        (timedelta(), "0 s"),
        (timedelta(seconds=45), "45 s"),
    ],
)
def test_targets_are_written_as_people_write_them(duration: timedelta, text: str) -> None:
    assert short_duration(duration) == text
