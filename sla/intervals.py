"""Interval algebra on timezone-aware datetimes, and calendar-month bounds.

Intervals are half-open, [start, end): an outage ending at 10:00 and another starting at
10:00 touch without sharing an instant, so no minute is ever counted twice. Every instant is
normalised to UTC on entry; subtracting two datetimes that share a ZoneInfo object compares
wall clocks, which is wrong across an offset change (Asia/Almaty moved from +06 to +05 in
2024), while UTC arithmetic is always exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` converted to UTC; reject naive datetimes, whose instant is unknown."""
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value  # already UTC, as every instant the engine made itself
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def require_aware_or_none(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else require_aware(value, name)


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time [start, end) in UTC; start == end is an empty interval."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        # Most intervals are cut from others, already UTC: `require_aware`'s own first test,
        # without a call per end (a month's report makes ~750k intervals).
        if not (type(start) is datetime and start.tzinfo is UTC):
            start = require_aware(start, "Interval.start")
            object.__setattr__(self, "start", start)
        if not (type(end) is datetime and end.tzinfo is UTC):
            end = require_aware(end, "Interval.end")
            object.__setattr__(self, "end", end)
        if end < start:
            raise ValueError(
                f"interval ends before it starts: {self.start.isoformat()} > {self.end.isoformat()}"
            )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def is_empty(self) -> bool:
        return self.end == self.start

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def union(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Merge overlapping or touching intervals into sorted, disjoint, non-empty ones."""
    ordered = [i for i in intervals if i.end != i.start]
    if len(ordered) < 2:
        return tuple(ordered)
    ordered.sort(key=lambda i: i.start)
    merged: list[Interval] = []
    for interval in ordered:
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return tuple(merged)


def intersection(first: Interval, second: Interval) -> Interval | None:
    """The common part of two intervals, or None when they share no instant."""
    # max() and min() of two, without the builtins' calls (~750k intersections a month).
    start = first.start if first.start >= second.start else second.start
    end = first.end if first.end <= second.end else second.end
    if not start < end:
        return None
    # Intervals are frozen: one lying inside the other is the common part as it is, with
    # no new interval (most downtime lies inside its month).
    if start is first.start and end is first.end:
        return first
    if start is second.start and end is second.end:
        return second
    return Interval(start, end)


def clip(intervals: Iterable[Interval], window: Interval) -> tuple[Interval, ...]:
    """The union of `intervals`, cut to `window`."""
    if isinstance(intervals, (list, tuple)) and len(intervals) == 1:
        # One interval is its own union (an empty one gives no intersection either).
        part = intersection(intervals[0], window)
        return () if part is None else (part,)
    parts = (intersection(interval, window) for interval in union(intervals))
    return tuple(part for part in parts if part is not None)


def intersect_sets(first: Iterable[Interval], second: Iterable[Interval]) -> tuple[Interval, ...]:
    """The instants covered by both sets of intervals, as a union."""
    second_union = union(second)
    parts: list[Interval] = []
    for interval in union(first):
        parts.extend(clip(second_union, interval))
    return union(parts)


def subtract(intervals: Iterable[Interval], removals: Iterable[Interval]) -> tuple[Interval, ...]:
    """The instants of `intervals` not covered by any of `removals`, as a union."""
    removal_union = union(removals)
    remaining: list[Interval] = []
    for interval in union(intervals):
        cursor = interval.start
        for removal in removal_union:
            if removal.end <= cursor or removal.start >= interval.end:
                continue
            if removal.start > cursor:
                remaining.append(Interval(cursor, removal.start))
            cursor = max(cursor, removal.end)
        if cursor < interval.end:
            remaining.append(Interval(cursor, interval.end))
    return tuple(remaining)


def total_duration(intervals: Iterable[Interval]) -> timedelta:
    """Length of the union: instants covered by several intervals count once."""
    return disjoint_duration(union(intervals))


def disjoint_duration(intervals: Iterable[Interval]) -> timedelta:
    """Length of intervals that share no instant (what `union`, `clip`, `subtract` and
    `intersect_sets` give): `total_duration` without merging them again."""
    return sum((interval.end - interval.start for interval in intervals), timedelta())


def parse_month(month: str) -> tuple[int, int]:
    """Split "YYYY-MM" into (year, month), with a message that names the bad input."""
    match = _MONTH_PATTERN.fullmatch(month) if isinstance(month, str) else None
    if match is None:
        raise ValueError(f"month must look like 'YYYY-MM' (for example '2026-03'), got {month!r}")
    year, month_number = int(match.group(1)), int(match.group(2))
    if not 1 <= month_number <= 12:
        raise ValueError(f"month number must be 01..12, got {month!r}")
    if year < 1:
        raise ValueError(f"year must be 0001 or later, got {month!r}")
    return year, month_number


def month_bounds(month: str, zone: ZoneInfo) -> Interval:
    """The calendar month in `zone` as a UTC interval: '2026-03' in Asia/Almaty is
    [2026-02-28 19:00Z, 2026-03-31 19:00Z)."""
    year, month_number = parse_month(month)
    next_year, next_month = (year + 1, 1) if month_number == 12 else (year, month_number + 1)
    start = datetime(year, month_number, 1, tzinfo=zone)
    end = datetime(next_year, next_month, 1, tzinfo=zone)
    return Interval(start, end)


def previous_month(now: datetime, zone: ZoneInfo) -> str:
    """The calendar month before the one `now` falls in, in `zone`, as "YYYY-MM": what a
    report asked for without a month covers (the last complete month)."""
    local = require_aware(now, "now").astimezone(zone)
    return (local.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def short_duration(duration: timedelta) -> str:
    """A span as people write it: "45 s" under a minute, else "45 min", "8 h", "1 h 30 min"."""
    if duration < timedelta(minutes=1):
        return f"{max(round(duration.total_seconds()), 0)} s"
    hours, minutes = divmod(round(duration / timedelta(minutes=1)), 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or not hours:
        parts.append(f"{minutes} min")
    return " ".join(parts)


_MINUTE = timedelta(minutes=1)


# A month's report writes ~500k durations, most of them a few values (nothing, a whole
# month): remembered, those cost a lookup instead of a division and a rounding.
@lru_cache(maxsize=4096)
def to_minutes(duration: timedelta) -> float:
    """Minutes as a float rounded to two decimals, for reports only (never for decisions)."""
    return round(duration / _MINUTE, 2)
