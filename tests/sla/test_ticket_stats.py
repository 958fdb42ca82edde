"""The streamed ticket tally gives the same figures as checking every ticket one by one
(the report's whole-list way before tickets were streamed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from sla.ticket_stats import TicketFigures, TicketTally, tally_tickets

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
