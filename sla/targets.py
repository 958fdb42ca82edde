"""Time targets: first response, object-storage processing, equipment restoration, and the
statistics reported over them.

Targets run in wall-clock time because support is 24/7 (A 5.3 / B 5.3). "Up to N minutes"
is inclusive: an answer at exactly the target meets it. Something not done yet is breached
once `now` is past its due time and pending before that; pending items are left out of the
statistics because their outcome is not known.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from sla.config import SlaConfig
from sla.downtime import evidence_end
from sla.model import (
    Channel,
    IncidentRecord,
    IncidentStatus,
    RestorationType,
    ServiceRecord,
    ServiceType,
    TicketRecord,
)
from sla.responsibility import provider_is_responsible, sla_applies

P90 = 90


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"
    PENDING = "pending"
    NO_TARGET = "no_target"


class Subject(StrEnum):
    """What a target measures; also the name live alerts are filed under."""

    RESPONSE = "response"  # A 5.2 / B 5.2
    PROCESSING = "processing"  # B 5.3
    RESTORATION = "restoration"  # A 5.7


@dataclass(frozen=True)
class TargetCheck:
    """One measured item. `elapsed` is None until the item is done."""

    ticket_number: int | None
    incident_id: int | None
    started_at: datetime
    done_at: datetime | None
    target: timedelta | None
    elapsed: timedelta | None
    outcome: Outcome


def is_past_due(started_at: datetime, target: timedelta, now: datetime) -> bool:
    """The terms say "up to N minutes", so the due moment itself still meets the target;
    only a moment after it misses."""
    return now > started_at + target


def check_against_target(
    started_at: datetime,
    done_at: datetime | None,
    target: timedelta | None,
    now: datetime,
    *,
    ticket_number: int | None = None,
    incident_id: int | None = None,
) -> TargetCheck:
    # A restoration stated before the confirmation took no time after it.
    elapsed = None if done_at is None else max(done_at - started_at, timedelta())
    if target is None:
        outcome = Outcome.NO_TARGET
    elif elapsed is not None:
        outcome = Outcome.MET if elapsed <= target else Outcome.BREACHED
    elif is_past_due(started_at, target, now):
        outcome = Outcome.BREACHED
    else:
        outcome = Outcome.PENDING
    return TargetCheck(ticket_number, incident_id, started_at, done_at, target, elapsed, outcome)


@dataclass(frozen=True)
class TargetClock:
    """Which target an item carries and from when, before any `now` is applied: the
    monthly report checks it at its `as_of`, the live alerts at every scan."""

    subject: Subject
    started_at: datetime
    done_at: datetime | None
    target: timedelta | None
    ticket_number: int | None = None
    incident_id: int | None = None

    @property
    def due_at(self) -> datetime | None:
        return None if self.target is None else self.started_at + self.target

    @property
    def running(self) -> bool:
        """A target that is set and whose item is not done yet."""
        return self.target is not None and self.done_at is None

    def check(self, now: datetime) -> TargetCheck:
        return check_against_target(
            self.started_at,
            self.done_at,
            self.target,
            now,
            ticket_number=self.ticket_number,
            incident_id=self.incident_id,
        )


def first_response_target(ticket: TicketRecord, config: SlaConfig) -> timedelta | None:
    """A 5.2 / B 5.2: bot 10 min, e-mail 24 h; phone has no target in the terms.

    In an emergency the terms only allow the target to be "increased", so the emergency
    target never shortens a channel's normal one (an e-mail keeps its 24 h).
    """
    normal = {
        Channel.TELEGRAM: config.telegram_first_response,
        Channel.EMAIL: config.email_first_response,
        Channel.PHONE: config.phone_first_response,
    }[ticket.channel]
    if normal is None or not ticket.emergency:
        return normal
    return max(normal, config.emergency_first_response)


def first_response_clock(ticket: TicketRecord, config: SlaConfig) -> TargetClock:
    return TargetClock(
        Subject.RESPONSE,
        ticket.opened_at,
        ticket.first_response_at,
        first_response_target(ticket, config),
        ticket_number=ticket.number,
    )


def first_response_check(ticket: TicketRecord, config: SlaConfig, now: datetime) -> TargetCheck:
    return first_response_clock(ticket, config).check(now)


def processing_clock(ticket: TicketRecord, config: SlaConfig) -> TargetClock | None:
    """B 5.3: an object-storage request is processed within 24 h, measured from opening to
    resolution (AMB-17: "processing" is undefined; resolution is the only recorded end).
    None for tickets about anything else, which have no processing target."""
    if ticket.service_type is not ServiceType.OBJECT_STORAGE:
        return None
    return TargetClock(
        Subject.PROCESSING,
        ticket.opened_at,
        ticket.resolved_at,
        config.object_storage_processing,
        ticket_number=ticket.number,
    )


def processing_check(ticket: TicketRecord, config: SlaConfig, now: datetime) -> TargetCheck | None:
    clock = processing_clock(ticket, config)
    return None if clock is None else clock.check(now)


def ticket_clocks(ticket: TicketRecord, config: SlaConfig) -> tuple[TargetClock, ...]:
    """Every target a ticket carries: its first response and, for object storage, its
    processing. Phone tickets carry a response clock without a target."""
    processing = processing_clock(ticket, config)
    response = first_response_clock(ticket, config)
    return (response,) if processing is None else (response, processing)


def restoration_target(restoration_type: RestorationType, config: SlaConfig) -> timedelta:
    return {
        RestorationType.REBOOT: config.reboot_restoration,
        RestorationType.REPAIR: config.repair_restoration,
    }[restoration_type]


def restoration_clock(
    incident: IncidentRecord, service: ServiceRecord, config: SlaConfig
) -> TargetClock | None:
    """A 5.7: failed equipment of a dedicated environment is restored within 45 min (reboot)
    or 8 h (repair), measured from confirmation to restoration (AMB-15 leaves the start
    open; PRODUCT.md fixes it at confirmation). None when the incident is not such a case:
    not confirmed, no restoration type, not the provider's layer, or no SLA (A 5.4)."""
    if (
        service.service_type is not ServiceType.DEDICATED
        or not sla_applies(service)
        or incident.status is not IncidentStatus.CONFIRMED
        or incident.confirmed_at is None
        or incident.restoration_type is None
        or not provider_is_responsible(service.service_type, incident.layer)
    ):
        return None
    return TargetClock(
        Subject.RESTORATION,
        incident.confirmed_at,
        # A restoration monitoring saw counts as one an engineer recorded.
        evidence_end(incident),
        restoration_target(incident.restoration_type, config),
        ticket_number=incident.ticket_number,
        incident_id=incident.incident_id,
    )


def restoration_check(
    incident: IncidentRecord, service: ServiceRecord, config: SlaConfig, now: datetime
) -> TargetCheck | None:
    clock = restoration_clock(incident, service, config)
    return None if clock is None else clock.check(now)


def median_duration(values: Sequence[timedelta]) -> timedelta:
    """The middle value; for an even count, the mean of the two middle values."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def nearest_rank_percentile(values: Sequence[timedelta], percent: int) -> timedelta:
    """The smallest value with at least `percent` % of values at or below it (nearest-rank
    method: rank = ceil(percent/100 × n)); always one of the observed values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    ordered = sorted(values)
    rank = math.ceil(percent * len(ordered) / 100)
    return ordered[rank - 1]


@dataclass(frozen=True)
class TargetStats:
    """Statistics over a group of checks.

    `count` is every item in the group; `measured` the items with a known outcome (met or
    breached); `within_target_percent` = met / measured × 100. Median (mean of the two middle
    values for an even count) and p90 (nearest rank) use the items
    done with a target; an item breached while still open has no duration yet and appears
    only among the breaches.
    """

    count: int
    without_target: int
    pending: int
    measured: int
    median: timedelta | None
    p90: timedelta | None
    within_target_percent: Fraction | None
    # In order of their start (then ticket number); a tuple, or for a month's tickets a
    # sequence that makes each check when it is read (`sla.ticket_stats.Breaches`).
    breaches: Sequence[TargetCheck]


def summarize(checks: Iterable[TargetCheck]) -> TargetStats:
    items = list(checks)
    by_outcome = {outcome: [c for c in items if c.outcome is outcome] for outcome in Outcome}
    met, breached = by_outcome[Outcome.MET], by_outcome[Outcome.BREACHED]
    durations = [c.elapsed for c in met + breached if c.elapsed is not None]
    measured = len(met) + len(breached)
    return TargetStats(
        count=len(items),
        without_target=len(by_outcome[Outcome.NO_TARGET]),
        pending=len(by_outcome[Outcome.PENDING]),
        measured=measured,
        median=median_duration(durations) if durations else None,
        p90=nearest_rank_percentile(durations, P90) if durations else None,
        within_target_percent=Fraction(100 * len(met), measured) if measured else None,
        breaches=tuple(sorted(breached, key=lambda c: c.started_at)),
    )
