"""The streamed ticket tally gives the same figures as checking every ticket one by one
(the report's whole-list way before tickets were streamed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla import SlaConfig, TicketRecord, month_bounds
from sla.model import Channel, ServiceType
from sla.targets import (
    TargetCheck,
    TargetStats,
    first_response_check,
    processing_check,
    summarize,
)
from sla.ticket_stats import (
    GroupKey,
    TicketFigures,
    TicketTally,
    epoch_microseconds,
    tally_tickets,
)

CONFIG = SlaConfig()
PERIOD = month_bounds("2026-11", CONFIG.zone)
AFTER = PERIOD.end + timedelta(days=3)


def whole_list_figures(tickets: list[TicketRecord], now: datetime) -> TicketFigures:
    """The figures as the report computed them from the whole list of records."""
    month = sorted((t for t in tickets if PERIOD.contains(t.opened_at)), key=lambda t: t.opened_at)
    responses = [(t, first_response_check(t, CONFIG, now)) for t in month]
    processing = [processing_check(t, CONFIG, now) for t in month]

    def of(selected: list[tuple[TicketRecord, TargetCheck]]) -> TargetStats:
        return summarize(check for _, check in selected)

    return TicketFigures(
        count=len(month),
        first_response=of(responses),
        telegram=of([(t, c) for t, c in responses if t.channel is Channel.TELEGRAM]),
        email=of([(t, c) for t, c in responses if t.channel is Channel.EMAIL]),
        phone=of([(t, c) for t, c in responses if t.channel is Channel.PHONE]),
        normal=of([(t, c) for t, c in responses if not t.emergency]),
        emergency=of([(t, c) for t, c in responses if t.emergency]),
        resolution=summarize(c for c in processing if c is not None),
        handed_off=of([(t, c) for t, c in responses if t.handed_off]),
    )


# Seconds, like Telegram's message times, plus some microseconds: ties and even counts.
offsets = st.one_of(
    st.integers(min_value=0, max_value=3 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
    st.integers(min_value=0, max_value=10**9).map(lambda us: timedelta(microseconds=us)),
)


@st.composite
def tickets(draw: st.DrawFn) -> list[TicketRecord]:
    count = draw(st.integers(min_value=0, max_value=40))
    records = []
    for number in range(1, count + 1):
        # A few opened just before or after the month: they are not its tickets.
        opened_at = PERIOD.start + draw(
            st.integers(min_value=-3600, max_value=31 * 24 * 3600).map(
                lambda s: timedelta(seconds=s)
            )
        )
        response = draw(st.none() | offsets)
        resolved = draw(st.none() | offsets)
        records.append(
            TicketRecord(
                number=number,
                channel=draw(st.sampled_from(list(Channel))),
                service_type=draw(st.none() | st.sampled_from(list(ServiceType))),
                category="",
                opened_at=opened_at,
                first_response_at=None if response is None else opened_at + response,
                resolved_at=None if resolved is None else opened_at + resolved,
                emergency=draw(st.booleans()),
                handed_off=draw(st.booleans()),
            )
        )
    return records


@settings(max_examples=300, deadline=None)
@given(
    records=tickets(),
    now=st.sampled_from([AFTER, PERIOD.start + timedelta(days=20), PERIOD.end]),
)
def test_streamed_tally_equals_the_whole_list(records: list[TicketRecord], now: datetime) -> None:
    assert tally_tickets(records, CONFIG, now, PERIOD).figures() == whole_list_figures(records, now)


def test_tally_fed_with_plain_values_as_the_database_gives_them() -> None:
    """Channel and service type arrive as their stored strings, flags as integers."""
    opened = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    tally = TicketTally(CONFIG, AFTER, PERIOD)
    tally.add(1, "telegram", None, opened, opened + timedelta(minutes=5), None, 0, 0)
    tally.add(2, "telegram", "object_storage", opened, opened + timedelta(minutes=11), None, 0, 1)
    tally.add(3, "phone", None, opened, None, None, 1, 0)
    figures = tally.figures()
    assert figures.count == 3
    assert figures.telegram.measured == 2
    assert figures.telegram.median == timedelta(minutes=8)
    assert [c.ticket_number for c in figures.first_response.breaches] == [2]
    assert figures.handed_off.count == 1
    assert figures.phone.without_target == 1
    # The object-storage ticket never resolved, days after its 24 h: breached.
    assert [c.ticket_number for c in figures.resolution.breaches] == [2]


def test_median_of_an_even_count_is_the_mean_of_the_middle_two_to_the_microsecond() -> None:
    opened = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    tally = TicketTally(CONFIG, AFTER, PERIOD)
    for number, elapsed in enumerate((1, 2, 3, 6), start=1):
        tally.add(
            number, Channel.TELEGRAM, None, opened, opened + timedelta(microseconds=elapsed),
            None, False, False,
        )  # fmt: skip
    stats = tally.figures().first_response
    assert stats.median == timedelta(microseconds=2.5)
    assert stats.p90 == timedelta(microseconds=6)


def grouped_tally(records: list[TicketRecord], now: datetime) -> TicketTally:
    """The tally fed as `crm.reporting` feeds it from the database: per group, the counts,
    the numbers and elapsed microseconds of the tickets done, the numbers of those past
    due; then the breached tickets the tally names, one by one."""
    tally = TicketTally(CONFIG, now, PERIOD)
    month = [t for t in records if PERIOD.contains(t.opened_at)]

    def feed(group: GroupKey | None, tickets: list[TicketRecord]) -> None:
        def done_at(t: TicketRecord) -> datetime | None:
            return t.resolved_at if group is None else t.first_response_at

        target = tally.processing_target if group is None else tally.response_target(*group[:2])
        done = [t for t in tickets if done_at(t) is not None]
        overdue = [
            t.number
            for t in tickets
            if done_at(t) is None
            and target is not None
            and t.opened_at < tally.overdue_before(target)
        ]
        tally.add_group(
            group,
            len(tickets),
            [(done_at(t) - t.opened_at) // timedelta(microseconds=1) for t in done],  # type: ignore[operator]
            len(overdue),
        )
        # The database names the breached ones (elapsed over the target, or past due).
        limit = None if target is None else target // timedelta(microseconds=1)
        late = [
            t.number
            for t in done
            if limit is not None and (done_at(t) - t.opened_at) // timedelta(microseconds=1) > limit  # type: ignore[operator]
        ]
        by_number = {t.number: t for t in tickets}
        for number in late + overdue:
            ticket = by_number[number]
            done = done_at(ticket)
            elapsed = (
                None if done is None else (done - ticket.opened_at) // timedelta(microseconds=1)
            )
            tally.add_breach(group, number, epoch_microseconds(ticket.opened_at), elapsed)

    for channel in Channel:
        for emergency in (False, True):
            for handed_off in (False, True):
                feed(
                    (channel, emergency, handed_off),
                    [
                        t
                        for t in month
                        if (t.channel, t.emergency, t.handed_off)
                        == (channel, emergency, handed_off)
                    ],
                )
    feed(None, [t for t in month if t.service_type is ServiceType.OBJECT_STORAGE])
    return tally


# Exactly at the targets and a microsecond either side.
near_targets = st.sampled_from(
    [timedelta(minutes=10), timedelta(minutes=60), timedelta(hours=24)]
).flatmap(
    lambda target: st.sampled_from(
        [target, target - timedelta(microseconds=1), target + timedelta(microseconds=1)]
    )
)


@st.composite
def tickets_near_targets(draw: st.DrawFn) -> list[TicketRecord]:
    records = draw(tickets())
    changed = []
    for record in records:
        response, resolved = record.first_response_at, record.resolved_at
        if response is not None and draw(st.booleans()):
            response = record.opened_at + draw(near_targets)
        if resolved is not None and draw(st.booleans()):
            resolved = record.opened_at + draw(near_targets)
        changed.append(replace(record, first_response_at=response, resolved_at=resolved))
    return changed


@settings(max_examples=200, deadline=None)
@given(
    records=st.one_of(tickets(), tickets_near_targets()),
    now=st.sampled_from(
        [AFTER, PERIOD.start + timedelta(days=20), PERIOD.end, PERIOD.start + timedelta(hours=1)]
    ),
)
def test_grouped_tally_equals_the_one_by_one_tally(
    records: list[TicketRecord], now: datetime
) -> None:
    assert (
        grouped_tally(records, now).figures()
        == tally_tickets(records, CONFIG, now, PERIOD).figures()
    )


def test_a_breach_the_rules_do_not_find_is_refused() -> None:
    opened = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    tally = TicketTally(CONFIG, AFTER, PERIOD)
    group = (Channel.TELEGRAM, False, False)
    tally.add_group(group, 1, [10 * 60 * 10**6], 0)
    with pytest.raises(ValueError, match="met, not breached"):
        tally.add_breach(group, 7, epoch_microseconds(opened), 10 * 60 * 10**6)
    # Not answered, and due no later than now: pending.
    tally = TicketTally(CONFIG, opened + timedelta(minutes=10), PERIOD)
    tally.add_group(group, 1, [], 0)
    with pytest.raises(ValueError, match="pending, not breached"):
        tally.add_breach(group, 7, epoch_microseconds(opened), None)


def test_a_breach_handed_in_as_numbers_is_the_one_by_one_check() -> None:
    opened = datetime(2026, 11, 10, 9, 0, 0, 123456, tzinfo=UTC)
    answered = opened + timedelta(minutes=10, microseconds=1)
    records = [
        TicketRecord(7, Channel.TELEGRAM, None, "", opened, answered),
        TicketRecord(8, Channel.TELEGRAM, None, "", opened),
    ]
    tally = TicketTally(CONFIG, AFTER, PERIOD)
    group = (Channel.TELEGRAM, False, False)
    tally.add_group(group, 2, [(answered - opened) // timedelta(microseconds=1)], 1)
    tally.add_breach(group, 8, epoch_microseconds(opened), None)
    tally.add_breach(group, 7, epoch_microseconds(opened), 10 * 60 * 10**6 + 1)
    expected = tally_tickets(records, CONFIG, AFTER, PERIOD).figures()
    assert tally.figures() == expected
    assert [c.ticket_number for c in expected.first_response.breaches] == [7, 8]
    assert expected.first_response.breaches[0].done_at == answered


def test_figures_refuse_a_breach_never_handed_in() -> None:
    tally = TicketTally(CONFIG, AFTER, PERIOD)
    group = (Channel.TELEGRAM, False, False)
    tally.add_group(group, 2, [10 * 60 * 10**6 + 1], 1)
    tally.add_breach(group, 7, epoch_microseconds(PERIOD.start), 11 * 60 * 10**6)
    with pytest.raises(ValueError, match="2 breached, but 1 breaches handed in"):
        tally.figures()
