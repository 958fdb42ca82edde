"""The month's ticket figures computed from a stream of plain values, one ticket at a time.

A month may hold a million tickets: building a `TicketRecord` and two `TargetCheck`s for
each costs more than everything else in the report. `TicketTally` applies the same rules
(`first_response_target`, `check_against_target`, `summarize` in `sla.targets`) to plain
values, keeps only counters, the elapsed times as 8-byte integers, and the breaches, and
gives the same `TicketReport` as the whole-list path, to the microsecond.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from operator import itemgetter
from typing import overload

from sla.config import SlaConfig
from sla.intervals import Interval
from sla.model import Channel, ServiceType, TicketRecord
from sla.targets import (
    P90,
    Outcome,
    TargetCheck,
    TargetStats,
    first_response_target,
    is_past_due,
)

_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_microseconds(instant: datetime) -> int:
    """An aware instant as whole microseconds since the Unix epoch (exact)."""
    return (instant - _EPOCH) // _MICROSECOND


# A breached ticket as the tally keeps it: (opened, number, elapsed, target), opened in
# microseconds since the epoch, elapsed done minus opened in microseconds (None: not done).
_Breach = tuple[int, int, int | None, timedelta | None]
# The report's order of breaches: by start, then ticket number.
_BREACH_ORDER = itemgetter(0, 1)
# A group of tickets the report shows: (channel, emergency, handed_off) -> belongs.
GroupKey = tuple[Channel, bool, bool]
_KEYS: tuple[GroupKey, ...] = tuple(
    (channel, emergency, handed_off)
    for channel in Channel
    for emergency in (False, True)
    for handed_off in (False, True)
)


@dataclass
class _Tally:
    """Counts of one key; `elapsed` holds the microseconds of items done with a target."""

    count: int = 0
    without_target: int = 0
    pending: int = 0
    met: int = 0
    breached: int = 0
    elapsed: array[int] = field(default_factory=lambda: array("q"))
    breaches: list[_Breach] = field(default_factory=list)
    # `elapsed` is in order: filled by one `add_group` (a million values need no second sort).
    in_order: bool = True

    def add(self, check_outcome: Outcome, elapsed: timedelta | None) -> None:
        self.count += 1
        if check_outcome is Outcome.MET:
            self.met += 1
        elif check_outcome is Outcome.BREACHED:
            self.breached += 1
        elif check_outcome is Outcome.PENDING:
            self.pending += 1
        else:
            self.without_target += 1
            return
        if elapsed is not None:
            self.elapsed.append(elapsed // _MICROSECOND)
            self.in_order = False

    def add_group(
        self, target: timedelta | None, count: int, elapsed: Iterable[int], overdue: int
    ) -> None:
        """`_outcome` applied to `count` items at once: `elapsed` holds done minus started,
        in microseconds (negative when done before started), of the items done; `overdue`
        how many of the others are past due. Done items meet the target up to and including
        it; negative times count as no time, as in `_outcome`."""
        self.count += count
        if target is None:
            self.without_target += count
            return
        done = sorted(elapsed)
        negative = bisect_left(done, 0)
        done[:negative] = [0] * negative
        if len(done) + overdue > count:
            raise ValueError("more items done or past due than the group holds")
        met = bisect_right(done, target // _MICROSECOND)
        self.met += met
        self.breached += len(done) - met + overdue
        self.pending += count - len(done) - overdue
        self.in_order = self.in_order and not self.elapsed
        self.elapsed.extend(done)


def _outcome(
    started_at: datetime, done_at: datetime | None, target: timedelta | None, now: datetime
) -> tuple[Outcome, timedelta | None]:
    """`check_against_target`'s outcome and elapsed time, without building the check."""
    elapsed = None if done_at is None else max(done_at - started_at, timedelta())
    if target is None:
        return Outcome.NO_TARGET, elapsed
    if elapsed is not None:
        return (Outcome.MET if elapsed <= target else Outcome.BREACHED), elapsed
    if is_past_due(started_at, target, now):
        return Outcome.BREACHED, None
    return Outcome.PENDING, None


def _kth(sorted_arrays: list[array[int]], k: int) -> int:
    """The k-th smallest value (1-based) of the union of sorted arrays."""
    low = min(a[0] for a in sorted_arrays if a)
    high = max(a[-1] for a in sorted_arrays if a)
    while low < high:
        middle = (low + high) // 2
        if sum(bisect_right(a, middle) for a in sorted_arrays) >= k:
            high = middle
        else:
            low = middle + 1
    return low


def _merge(tallies: list[_Tally]) -> TargetStats:
    """`summarize` over the union of several keys' items."""
    measured = sum(t.met + t.breached for t in tallies)
    met = sum(t.met for t in tallies)
    arrays = [t.elapsed for t in tallies]
    durations = sum(len(a) for a in arrays)
    median = p90 = None
    if durations:
        middle = durations // 2
        if durations % 2:
            median = _kth(arrays, middle + 1) * _MICROSECOND
        else:
            low, high = _kth(arrays, middle), _kth(arrays, middle + 1)
            median = (low * _MICROSECOND + high * _MICROSECOND) / 2
        p90 = _kth(arrays, math.ceil(P90 * durations / 100)) * _MICROSECOND
    breaches = sorted((b for t in tallies for b in t.breaches), key=_BREACH_ORDER)
    return TargetStats(
        count=sum(t.count for t in tallies),
        without_target=sum(t.without_target for t in tallies),
        pending=sum(t.pending for t in tallies),
        measured=measured,
        median=median,
        p90=p90,
        within_target_percent=Fraction(100 * met, measured) if measured else None,
        breaches=Breaches(breaches),
    )


def _breach(
    number: int, opened_at: datetime, done_at: datetime | None, target: timedelta | None
) -> _Breach:
    elapsed = None if done_at is None else (done_at - opened_at) // _MICROSECOND
    return (epoch_microseconds(opened_at), number, elapsed, target)


def _check(breach: _Breach) -> TargetCheck:
    """The check of a breach as `check_against_target` makes it."""
    opened, number, elapsed, target = breach
    started_at = _EPOCH + timedelta(microseconds=opened)
    if elapsed is None:
        return TargetCheck(number, None, started_at, None, target, None, Outcome.BREACHED)
    done_at = started_at + timedelta(microseconds=elapsed)
    duration = timedelta(microseconds=max(elapsed, 0))
    return TargetCheck(number, None, started_at, done_at, target, duration, Outcome.BREACHED)


class Breaches(Sequence[TargetCheck]):
    """Breached tickets in the report's order (start, then number), each `TargetCheck` made
    when it is read: a month may breach hundreds of thousands, and the report lists their
    numbers alone (`ticket_numbers`). Equal to any sequence of the same checks."""

    __slots__ = ("_breaches",)

    def __init__(self, breaches: list[_Breach]) -> None:
        self._breaches = breaches

    @property
    def ticket_numbers(self) -> list[int]:
        return [breach[1] for breach in self._breaches]

    def __len__(self) -> int:
        return len(self._breaches)

    @overload
    def __getitem__(self, index: int) -> TargetCheck: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[TargetCheck, ...]: ...
    def __getitem__(self, index: int | slice) -> TargetCheck | tuple[TargetCheck, ...]:
        if isinstance(index, slice):
            return tuple(map(_check, self._breaches[index]))
        return _check(self._breaches[index])

    def __iter__(self) -> Iterator[TargetCheck]:
        return map(_check, self._breaches)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Breaches):
            return tuple(self) == tuple(other)
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Breaches({list(self)!r})"


def breach_numbers(breaches: Sequence[TargetCheck]) -> list[int | None]:
    """The ticket numbers of `TargetStats.breaches`, in order."""
    if isinstance(breaches, Breaches):
        return list(breaches.ticket_numbers)
    return [check.ticket_number for check in breaches]


@dataclass(frozen=True)
class TicketFigures:
    """What `TicketTally` found; `TicketReport` adds the restoration checks."""

    count: int
    first_response: TargetStats
    telegram: TargetStats
    email: TargetStats
    phone: TargetStats
    normal: TargetStats
    emergency: TargetStats
    resolution: TargetStats
    handed_off: TargetStats


class TicketTally:
    """Feed it tickets with `add` (plain values, as read from the database) in any order;
    `figures()` gives the month's ticket statistics. Tickets opened outside `period` are
    not the month's and are left out, as in `build_monthly_report`."""

    def __init__(self, config: SlaConfig, now: datetime, period: Interval) -> None:
        self.now = now
        self.period = period
        self._now_microseconds = epoch_microseconds(now)
        self._processing_target = config.object_storage_processing
        self._targets: dict[tuple[Channel, bool], timedelta | None] = {
            (channel, emergency): first_response_target(
                TicketRecord(0, channel, None, "", period.start, emergency=emergency), config
            )
            for channel in Channel
            for emergency in (False, True)
        }
        self._tallies: dict[GroupKey, _Tally] = {key: _Tally() for key in _KEYS}
        self._processing = _Tally()

    def add(
        self,
        number: int,
        channel: Channel | str,
        service_type: ServiceType | str | None,
        opened_at: datetime,
        first_response_at: datetime | None,
        resolved_at: datetime | None,
        emergency: bool | int,
        handed_off: bool | int,
    ) -> None:
        if not (self.period.start <= opened_at < self.period.end):
            return
        kind = Channel(channel)
        urgent = bool(emergency)
        target = self._targets[(kind, urgent)]
        outcome, elapsed = _outcome(opened_at, first_response_at, target, self.now)
        tally = self._tallies[(kind, urgent, bool(handed_off))]
        tally.add(outcome, elapsed)
        if outcome is Outcome.BREACHED:
            tally.breaches.append(_breach(number, opened_at, first_response_at, target))
        if service_type is not None and ServiceType(service_type) is ServiceType.OBJECT_STORAGE:
            target = self._processing_target
            outcome, elapsed = _outcome(opened_at, resolved_at, target, self.now)
            self._processing.add(outcome, elapsed)
            if outcome is Outcome.BREACHED:
                self._processing.breaches.append(_breach(number, opened_at, resolved_at, target))

    def response_target(self, channel: Channel, emergency: bool) -> timedelta | None:
        """The first-response target of a ticket of this channel and mode (A 5.2 / B 5.2)."""
        return self._targets[(channel, emergency)]

    @property
    def processing_target(self) -> timedelta:
        """The object-storage processing target (B 5.3)."""
        return self._processing_target

    def overdue_before(self, target: timedelta) -> datetime:
        """Something not done yet and started before this moment is past due at `now`
        (`is_past_due`); started at it or later, it is pending."""
        return self.now - target

    def add_group(
        self, group: GroupKey | None, count: int, elapsed: Iterable[int], overdue: int
    ) -> None:
        """Counts aggregated by the database, in place of `count` calls to `add`: the
        month's tickets of one `group` (channel, emergency, handed off), or their
        object-storage processing when `group` is None (then `count` is the object-storage
        tickets). `elapsed`: done minus opened, in microseconds, of each ticket done (first
        answered, or resolved); `overdue`: how many of those not done are past due (opened
        before `overdue_before`). The breached tickets are then handed in one by one with
        `add_breach`, which checks each; `figures` checks that none is missing."""
        if group is None:
            target: timedelta | None = self._processing_target
            tally = self._processing
        else:
            target = self._targets[(group[0], group[1])]
            tally = self._tallies[group]
        tally.add_group(target, count, elapsed, overdue)

    def add_breach(
        self, group: GroupKey | None, number: int, opened_at: int, elapsed: int | None
    ) -> None:
        """One breached ticket of a group handed in with `add_group` (`group` None: its
        object-storage processing), as numbers: `opened_at` in microseconds since the Unix
        epoch (`epoch_microseconds`), `elapsed` done minus opened in microseconds (None:
        not done). Refused when the rules do not find it breached: the same test as
        `_outcome`'s, in whole microseconds, as exact as on the instants."""
        if group is None:
            target: timedelta | None = self._processing_target
            tally = self._processing
        else:
            target = self._targets[(group[0], group[1])]
            tally = self._tallies[group]
        if target is None:
            raise ValueError(f"ticket {number} has no target, it cannot be breached")
        limit = target // _MICROSECOND
        if elapsed is None:
            # `is_past_due`: now > opened + target.
            if not self._now_microseconds > opened_at + limit:
                raise ValueError(f"ticket {number} is {Outcome.PENDING.value}, not breached")
        elif not max(elapsed, 0) > limit:
            raise ValueError(f"ticket {number} is {Outcome.MET.value}, not breached")
        tally.breaches.append((opened_at, number, elapsed, target))

    def add_record(self, ticket: TicketRecord) -> None:
        self.add(
            ticket.number,
            ticket.channel,
            ticket.service_type,
            ticket.opened_at,
            ticket.first_response_at,
            ticket.resolved_at,
            ticket.emergency,
            ticket.handed_off,
        )

    def figures(self) -> TicketFigures:
        for tally in (*self._tallies.values(), self._processing):
            if len(tally.breaches) != tally.breached:
                raise ValueError(
                    f"{tally.breached} breached, but {len(tally.breaches)} breaches handed in"
                )
            if not tally.in_order:
                tally.elapsed = array("q", sorted(tally.elapsed))
                tally.in_order = True
            # Each merge below then sorts a few presorted runs.
            tally.breaches.sort(key=_BREACH_ORDER)

        def of(selected: Callable[[GroupKey], bool]) -> TargetStats:
            return _merge([tally for key, tally in self._tallies.items() if selected(key)])

        return TicketFigures(
            count=sum(t.count for t in self._tallies.values()),
            first_response=of(lambda key: True),
            telegram=of(lambda key: key[0] is Channel.TELEGRAM),
            email=of(lambda key: key[0] is Channel.EMAIL),
            phone=of(lambda key: key[0] is Channel.PHONE),
            normal=of(lambda key: not key[1]),
            emergency=of(lambda key: key[1]),
            resolution=_merge([self._processing]),
            handed_off=of(lambda key: key[2]),
        )


def tally_tickets(
    tickets: Iterable[TicketRecord], config: SlaConfig, now: datetime, period: Interval
) -> TicketTally:
    tally = TicketTally(config, now, period)
    for ticket in tickets:
        tally.add_record(ticket)
    return tally
