"""Interval algebra and calendar months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sla import (
    Interval,
    clip,
    intersect_sets,
    intersection,
    month_bounds,
    parse_month,
    subtract,
    total_duration,
    union,
)
from tests.sla.factories import ALMATY


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 4, 10, hour, minute, tzinfo=UTC)


def span(start_hour: int, end_hour: int) -> Interval:
    return Interval(at(start_hour), at(end_hour))


def test_union_merges_overlapping_and_touching_intervals_but_keeps_gaps() -> None:
    merged = union([span(5, 6), span(1, 3), span(2, 4), span(4, 4), span(3, 4)])
    assert merged == (span(1, 4), span(5, 6))


def test_union_drops_empty_intervals() -> None:
    assert union([span(2, 2)]) == ()


def test_intersection_of_disjoint_or_touching_intervals_is_none() -> None:
    assert intersection(span(1, 2), span(2, 3)) is None
    assert intersection(span(1, 3), span(2, 4)) == span(2, 3)


def test_clip_cuts_to_window() -> None:
    assert clip([span(1, 3), span(4, 9)], span(2, 5)) == (span(2, 3), span(4, 5))


def test_subtract_splits_an_interval_around_a_removal() -> None:
    assert subtract([span(1, 6)], [span(2, 3), span(4, 5)]) == (
        span(1, 2),
        span(3, 4),
        span(5, 6),
    )


def test_subtract_everything_leaves_nothing() -> None:
    assert subtract([span(2, 3)], [span(1, 4)]) == ()


def test_intersect_sets_keeps_only_shared_time() -> None:
    assert intersect_sets([span(1, 4), span(6, 8)], [span(3, 7)]) == (span(3, 4), span(6, 7))


def test_total_duration_counts_overlap_once() -> None:
    assert total_duration([span(1, 3), span(2, 4)]) == timedelta(hours=3)


def test_interval_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 4, 1), at(1))


def test_interval_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        span(3, 2)


def test_interval_is_stored_in_utc() -> None:
    interval = Interval(
        datetime(2026, 4, 1, 5, tzinfo=ALMATY), datetime(2026, 4, 1, 6, tzinfo=ALMATY)
    )
    assert interval.start == datetime(2026, 4, 1, 0, tzinfo=UTC)
    assert interval.start.tzinfo is UTC


def test_month_bounds_cut_calendar_month_in_almaty_and_return_utc() -> None:
    bounds = month_bounds("2026-03", ALMATY)
    assert bounds.start == datetime(2026, 2, 28, 19, tzinfo=UTC)
    assert bounds.end == datetime(2026, 3, 31, 19, tzinfo=UTC)
    assert bounds.duration == timedelta(days=31)


def test_month_bounds_of_december_end_in_next_year() -> None:
    bounds = month_bounds("2026-12", ALMATY)
    assert bounds.end == datetime(2027, 1, 1, tzinfo=ALMATY)


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-3", "26-03", "2026/03", "", "march"])
def test_parse_month_rejects_malformed_months(bad: str) -> None:
    with pytest.raises(ValueError, match="month"):
        parse_month(bad)


def test_parse_month_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match="'2026-13'"):
        parse_month("2026-13")


def test_parse_month_accepts_valid_month() -> None:
    assert parse_month("2026-03") == (2026, 3)
