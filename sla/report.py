"""The monthly SLA report: built from CRM records, rendered as JSON-ready dict, text, CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sla.config import SlaConfig
from sla.credits import CreditResult, compute_credit, credit_base, is_provider_data_loss
from sla.downtime import IncidentDowntime, ServiceDowntime, reported_start, service_downtime
from sla.intervals import Interval, month_bounds, require_aware, short_duration, to_minutes
from sla.model import (
    Channel,
    Claim,
    IncidentRecord,
    MaintenanceWindow,
    ServiceRecord,
    TicketRecord,
)
from sla.responsibility import sla_applies
from sla.targets import (
    Outcome,
    TargetCheck,
    TargetStats,
    restoration_check,
    summarize,
)
from sla.ticket_stats import TicketFigures, TicketTally, breach_numbers, tally_tickets


@dataclass(frozen=True)
class IncidentLine:
    downtime: IncidentDowntime
    restoration: TargetCheck | None


@dataclass(frozen=True)
class ServiceReport:
    service: ServiceRecord
    downtime: ServiceDowntime
    credit: CreditResult
    claimed: bool
    incidents: tuple[IncidentLine, ...]


@dataclass(frozen=True)
class TicketReport:
    count: int
    first_response: TargetStats
    telegram: TargetStats
    email: TargetStats
    phone: TargetStats
    normal: TargetStats
    emergency: TargetStats
    resolution: TargetStats
    restoration: TargetStats
    # Tickets handed to another department, measured against support's own target.
    handed_off: TargetStats = field(default_factory=lambda: summarize(()))


@dataclass(frozen=True)
class MonthlyReport:
    """`period` is the calendar month in UTC; for the running month the figures are to
    date (`as_of`, `partial`); a month that is over is as of its end."""

    month: str
    timezone: str
    period: Interval
    as_of: datetime
    services: tuple[ServiceReport, ...]
    tickets: TicketReport
    # The figures it was measured against, for the text that names them.
    config: SlaConfig = field(default_factory=SlaConfig)
    # The evidence chain's head hash when the report was read: everything the report was
    # built from lies before it, so `python -m crm verify` on a later copy vouches for it.
    # Handed in by whoever read the rows; the rules never see the database.
    evidence_head: str | None = None

    @property
    def partial(self) -> bool:
        """The month is still running: every figure is to date (`as_of`)."""
        return self.as_of < self.period.end

    @property
    def empty(self) -> bool:
        return not self.services and self.tickets.count == 0 and self.tickets.restoration.count == 0


def build_monthly_report(
    month: str,
    services: Iterable[ServiceRecord],
    incidents: Iterable[IncidentRecord],
    maintenance: Iterable[MaintenanceWindow],
    tickets: Iterable[TicketRecord] | TicketTally,
    claims: Iterable[Claim],
    config: SlaConfig,
    now: datetime,
    evidence_head: str | None = None,
) -> MonthlyReport:
    """Evaluate one calendar month (in `config.timezone`) as of `now`.

    Services are listed when their active period overlaps the month; tickets belong to the
    month they were opened in; restoration checks to the month the incident was confirmed
    in. Every incident must refer to one of `services`. `tickets` may come already tallied
    (a `TicketTally` made for the same month and `now`, fed from a stream of rows).
    """
    now = require_aware(now, "now")
    period = report_period(month, config, now)
    service_list = list(services)
    incidents_by_service = _incidents_by_service(service_list, incidents)
    reporter = ServiceReporter(month, maintenance, claims, config, now)

    service_reports: list[ServiceReport] = []
    restoration_checks = list(
        month_restoration_checks(
            (
                (incident, service)
                for service in service_list
                for incident in incidents_by_service[service.service_id]
            ),
            period,
            config,
            now,
        )
    )
    for service in service_list:
        report = reporter.report(service, incidents_by_service[service.service_id])
        if report is not None:
            service_reports.append(report)
    service_reports.sort(
        key=lambda r: service_order(
            r.service.customer_name, r.service.customer_id, r.service.service_id
        )
    )
    head = report_head(
        month, bool(service_reports), restoration_checks, tickets, config, now, evidence_head
    )
    return replace(head.report, services=tuple(service_reports))


def report_period(month: str, config: SlaConfig, now: datetime) -> Interval:
    """The month's bounds; refused when the month has not begun at `now`."""
    period = month_bounds(month, config.zone)
    if now < period.start:
        raise ValueError(
            f"month {month} lies entirely in the future (it starts {period.start.isoformat()},"
            f" now is {now.isoformat()})"
        )
    return period


def service_order(customer_name: str, customer_id: int, service_id: int) -> tuple[str, int, int]:
    """Where a service stands in the report: by customer name (case-insensitively), then
    customer, then service."""
    return (customer_name.casefold(), customer_id, service_id)


def month_restoration_checks(
    incidents: Iterable[tuple[IncidentRecord, ServiceRecord]],
    period: Interval,
    config: SlaConfig,
    now: datetime,
) -> Iterator[TargetCheck]:
    """The equipment restorations (A 5.7) measured in the month: of each incident with its
    service, those confirmed in `period`. The report's summary sorts them by their start
    and keeps the order given here among equal starts (services, then incidents, by id)."""
    checks = (restoration_check(incident, service, config, now) for incident, service in incidents)
    return measured_in(checks, period)


def measured_in(checks: Iterable[TargetCheck | None], period: Interval) -> Iterator[TargetCheck]:
    """The restorations among `checks` that the month measures: those confirmed in it."""
    return (check for check in checks if check is not None and period.contains(check.started_at))


@dataclass(frozen=True)
class ReportHead:
    """A month's report but for its services, for a writer that streams the services after
    it (`MonthlyReport.services` is empty here; `listed` says whether any follow)."""

    report: MonthlyReport
    listed: bool

    @property
    def empty(self) -> bool:
        """`MonthlyReport.empty` of the whole report."""
        tickets = self.report.tickets
        return not self.listed and tickets.count == 0 and tickets.restoration.count == 0


def report_head(
    month: str,
    listed: bool,
    restoration_checks: Iterable[TargetCheck],
    tickets: Iterable[TicketRecord] | TicketTally,
    config: SlaConfig,
    now: datetime,
    evidence_head: str | None = None,
) -> ReportHead:
    """Everything of the month's report that precedes its services: the ticket figures
    and the restorations of `month_restoration_checks`. `listed`: whether the report lists
    any service."""
    now = require_aware(now, "now")
    period = report_period(month, config, now)
    if isinstance(tickets, TicketTally) and (tickets.period != period or tickets.now != now):
        raise ValueError("the tickets were tallied for another month or moment")
    tally = (
        tickets if isinstance(tickets, TicketTally) else tally_tickets(tickets, config, now, period)
    )
    report = MonthlyReport(
        month=month,
        timezone=config.timezone,
        period=period,
        # A month that is over is reported as of its end: the same figures at any later hour.
        as_of=min(now, period.end),
        services=(),
        tickets=_ticket_report(tally.figures(), list(restoration_checks)),
        config=config,
        evidence_head=evidence_head,
    )
    return ReportHead(report, listed)


class ServiceReporter:
    """Service reports one at a time, for a reader that hands each service its own
    incidents (in incident order) and never holds the month's list."""

    # Credits cached at most (see `report`); past it the cache starts again.
    CREDITS_CACHED = 4096

    def __init__(
        self,
        month: str,
        maintenance: Iterable[MaintenanceWindow],
        claims: Iterable[Claim],
        config: SlaConfig,
        now: datetime,
    ) -> None:
        self.month = month
        self.now = require_aware(now, "now")
        self.period = month_bounds(month, config.zone)
        self.config = config
        self._windows_for = _windows_by_service(maintenance)
        self._claimed = {(int(service_id), str(claim_month)) for service_id, claim_month in claims}
        # Services alike in fee, time and downtime (most run all month with none) share one
        # credit: it depends on nothing else, and every figure in it is exact or in cents.
        self._credits: dict[tuple[object, ...], CreditResult] = {}

    def report(
        self,
        service: ServiceRecord,
        incidents: list[IncidentRecord],
        restorations: dict[int, TargetCheck | None] | None = None,
    ) -> ServiceReport | None:
        """`service`'s report, None when it was not active in the month. `incidents`: every
        one of the month's incidents of this service; `restorations`: their
        `restoration_check`s by `id()` of the incident, when already made."""
        if not _active_during(service, self.period):
            return None
        if len(self._credits) > self.CREDITS_CACHED:
            self._credits.clear()
        return _service_report(
            service,
            incidents,
            self._windows_for(service.service_id) if incidents else [],
            self.period,
            self.month,
            self._claimed,
            self.config,
            self.now,
            self._credits,
            restorations,
        )

    def report_and_restorations(
        self, service: ServiceRecord, incidents: list[IncidentRecord]
    ) -> tuple[ServiceReport | None, list[TargetCheck]]:
        """`report`, and the restorations the month measures (`month_restoration_checks`,
        in incident order), of one service: each incident's restoration checked once for
        both."""
        if not incidents:
            return self.report(service, incidents), []
        checks = {
            id(incident): restoration_check(incident, service, self.config, self.now)
            for incident in incidents
        }
        in_month = list(measured_in(checks.values(), self.period))
        return self.report(service, incidents, checks), in_month


def _incidents_by_service(
    services: list[ServiceRecord], incidents: Iterable[IncidentRecord]
) -> dict[int, list[IncidentRecord]]:
    services_by_id: dict[int, ServiceRecord] = {}
    for service in services:
        if service.service_id in services_by_id:
            raise ValueError(f"service {service.service_id} is listed twice")
        services_by_id[service.service_id] = service
    incident_list = list(incidents)
    for incident in incident_list:
        if incident.service_id not in services_by_id:
            raise ValueError(
                f"incident {incident.incident_id} refers to unknown service {incident.service_id}"
            )
    incidents_by_service: dict[int, list[IncidentRecord]] = defaultdict(list)
    for incident in incident_list:
        incidents_by_service[incident.service_id].append(incident)
    return incidents_by_service


def _windows_by_service(
    maintenance: Iterable[MaintenanceWindow],
) -> Callable[[int], list[MaintenanceWindow]]:
    """Each service sees the windows for every service and its own, not the whole list:
    100k services times 100 windows is what made the report slow. Cancelled windows
    exclude nothing (`exclusion_intervals`). (A service without incidents has no downtime
    for windows to exclude from: `build_monthly_report` hands it none.)"""
    global_windows: list[MaintenanceWindow] = []
    own_windows: dict[int, list[MaintenanceWindow]] = defaultdict(list)
    for window in maintenance:
        if window.cancelled:
            continue
        if window.service_id is None:
            global_windows.append(window)
        else:
            own_windows[window.service_id].append(window)
    return lambda service_id: global_windows + own_windows.get(service_id, [])


def _active_during(service: ServiceRecord, period: Interval) -> bool:
    return service.active_from < period.end and (
        service.active_to is None or service.active_to > period.start
    )


def paid_window(service: ServiceRecord, period: Interval) -> Interval | None:
    """The part of `period` from the service's switch to paid (B 3), None when it was not
    paid in it (a trial all month, or switched off before the trial ended)."""
    paid_from = service.paid_from
    if service.active_to is not None and service.active_to <= paid_from:
        return None
    if paid_from >= period.end:
        return None
    if paid_from <= period.start:
        return period  # paid all of it (most services): the period itself, frozen
    return Interval(paid_from, period.end)


def _service_report(
    service: ServiceRecord,
    incidents: list[IncidentRecord],
    maintenance: list[MaintenanceWindow],
    period: Interval,
    month: str,
    claimed: set[Claim],
    config: SlaConfig,
    now: datetime,
    credits: dict[tuple[object, ...], CreditResult] | None = None,
    restorations: dict[int, TargetCheck | None] | None = None,
) -> ServiceReport:
    # The SLA covers the paid part of the month: a free trial (B 3) earns no credit, so
    # availability and data loss are measured from the switch to paid. A month spent wholly
    # in the trial is still measured (the figure informs) but its base, hence credit, is 0.
    paid = paid_window(service, period)
    window = paid if paid is not None else period
    downtime = service_downtime(service, incidents, maintenance, window, now)
    # A 5.14 / B 5.10: the credit belongs to the period in which the loss occurred.
    provider_data_loss = any(
        is_provider_data_loss(incident, service)
        and (start := reported_start(incident)) is not None
        and window.contains(start)
        and start <= now
        for incident in incidents
    )
    paid_active = downtime.active if paid is not None else timedelta()
    applies = sla_applies(service)
    key = (
        str(service.monthly_fee), downtime.active, downtime.counted, paid_active,
        provider_data_loss, applies,
    )  # fmt: skip
    credit = None if credits is None else credits.get(key)
    if credit is None:
        credit = compute_credit(
            monthly_fee=service.monthly_fee,
            active=downtime.active,
            counted=downtime.counted,
            provider_data_loss=provider_data_loss,
            sla_applies=applies,
            config=config,
            base=credit_base(service.monthly_fee, paid_active, period.duration, config),
        )
        if credits is not None:
            credits[key] = credit
    lines = tuple(
        IncidentLine(
            line,
            restoration_check(line.incident, service, config, now)
            if restorations is None
            else restorations[id(line.incident)],
        )
        for line in downtime.incidents
    )
    return ServiceReport(
        service=service,
        downtime=downtime,
        credit=credit,
        claimed=(service.service_id, month) in claimed,
        incidents=lines,
    )


def _restoration_stats(restoration_checks: list[TargetCheck]) -> TargetStats:
    return summarize(sorted(restoration_checks, key=lambda c: c.started_at))


def _ticket_report(figures: TicketFigures, restoration_checks: list[TargetCheck]) -> TicketReport:
    return TicketReport(
        count=figures.count,
        first_response=figures.first_response,
        telegram=figures.telegram,
        email=figures.email,
        phone=figures.phone,
        normal=figures.normal,
        emergency=figures.emergency,
        resolution=figures.resolution,
        restoration=_restoration_stats(restoration_checks),
        handed_off=figures.handed_off,
    )


# ---------------------------------------------------------------------------------------
# Rendering

SERVICE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer",
    "service_id",
    "service_name",
    "service_type",
    "currency",
    "monthly_fee",
    "trial_until",
    "credit_base_amount",
    "active_minutes",
    "downtime_minutes",
    "excluded_minutes",
    "availability_percent",
    "tier",
    "sla_applies",
    "credit_percent",
    "credit_amount",
    "data_loss_credit_amount",
    "total_credit_amount",
    "claimed",
)
# The CSV repeats the report's own `as_of` and `partial` on every row, so a sheet made of
# the rows alone still says it is to date.
CSV_COLUMNS: tuple[str, ...] = (*SERVICE_COLUMNS, "as_of", "partial")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # the engine's instants are UTC already
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _floor_percent(value: Fraction | None, places: int) -> float | None:
    """Truncated, never rounded up: a printed 99.9 must not hide a figure below 99.9, and a
    printed 100.0 must mean every item met its target."""
    if value is None:
        return None
    scale = 10**places
    # floor(value × scale) in integers (a Fraction product would reduce by a gcd first),
    # then divided as integers: Python rounds an integer quotient correctly, so this is
    # the float nearest the decimal floor(…) / scale, as float(Decimal(…) / scale) is.
    return value.numerator * scale // value.denominator / scale


def _minutes(duration: timedelta | None) -> float | None:
    return None if duration is None else to_minutes(duration)


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _stats_to_dict(stats: TargetStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "measured": stats.measured,
        "pending": stats.pending,
        "without_target": stats.without_target,
        "median_minutes": _minutes(stats.median),
        "p90_minutes": _minutes(stats.p90),
        "within_target_percent": _floor_percent(stats.within_target_percent, 2),
        "breaches": breach_numbers(stats.breaches),
    }


# The renderers below read enum members' `_value_`: the same text as `.value`, which is a
# descriptor call each (a million of them in a month's report).


def _utc(moment: datetime | None) -> datetime | None:
    """An instant left as it is, in UTC, for an encoder that writes it as `_iso` does."""
    if moment is None or moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def _incident_to_dict(
    line: IncidentLine, iso: Callable[[datetime | None], Any] = _iso
) -> dict[str, Any]:
    incident = line.downtime.incident
    restoration = line.restoration
    outcome = restoration.outcome if restoration is not None else None
    return {
        "incident_id": incident.incident_id,
        "ticket_number": incident.ticket_number,
        "status": incident.status._value_,
        "start": iso(line.downtime.start),
        "end": iso(line.downtime.end),
        "layer": incident.layer._value_ if incident.layer is not None else None,
        "exclusion": incident.exclusion._value_ if incident.exclusion is not None else None,
        "not_counted_reason": (
            line.downtime.not_counted_reason._value_
            if line.downtime.not_counted_reason is not None
            else None
        ),
        "counted_minutes": to_minutes(line.downtime.counted),
        "excluded_minutes": to_minutes(line.downtime.excluded),
        "data_loss": incident.data_loss,
        "confirmed_at": iso(incident.confirmed_at),
        "restoration_type": (
            incident.restoration_type._value_ if incident.restoration_type is not None else None
        ),
        "restoration_target_minutes": _minutes(restoration.target) if restoration else None,
        "restoration_minutes": _minutes(restoration.elapsed) if restoration else None,
        "restoration_outcome": outcome._value_ if outcome is not None else None,
        "restoration_met": (
            outcome is Outcome.MET if outcome in (Outcome.MET, Outcome.BREACHED) else None
        ),
    }


def _service_to_dict(
    report: ServiceReport, iso: Callable[[datetime | None], Any] = _iso, incidents: bool = True
) -> dict[str, Any]:
    service, credit, downtime = report.service, report.credit, report.downtime
    return {
        "customer_id": service.customer_id,
        "customer": service.customer_name,
        "service_id": service.service_id,
        "service_name": service.name or f"{service.service_type._value_} #{service.service_id}",
        "service_type": service.service_type._value_,
        "currency": service.currency,
        "monthly_fee": _amount(service.monthly_fee),
        "trial_until": iso(service.trial_until),
        "credit_base_amount": _amount(credit.base),
        "active_minutes": to_minutes(downtime.active),
        "downtime_minutes": to_minutes(downtime.counted),
        "excluded_minutes": to_minutes(downtime.excluded),
        "availability_percent": _floor_percent(credit.availability, 4),
        "tier": credit.tier._value_ if credit.tier is not None else None,
        "sla_applies": credit.sla_applies,
        "credit_percent": float(credit.credit_percent),
        "credit_amount": _amount(credit.credit_amount),
        "data_loss_credit_amount": _amount(credit.data_loss_credit_amount),
        "total_credit_amount": _amount(credit.total_credit_amount),
        "claimed": report.claimed,
        "incidents": [_incident_to_dict(line, iso) for line in report.incidents]
        if incidents
        else [],
    }


def report_to_dict(report: MonthlyReport) -> dict[str, Any]:
    """JSON-ready: amounts are strings with two decimals, percentages floats truncated
    (availability to 4 places, shares to 2), minutes floats rounded to 2 places, instants
    ISO 8601 in UTC. Tiers are decided on exact figures before any of this rounding."""
    return {**report_header_dict(report), "services": list(service_dicts(report))}


def service_dicts(report: MonthlyReport) -> Iterator[dict[str, Any]]:
    """`report_to_dict(report)["services"]`, one at a time (a writer can stream them)."""
    for service in report.services:
        yield _service_to_dict(service)


def service_dict(report: ServiceReport) -> dict[str, Any]:
    """One entry of `report_to_dict(...)["services"]`."""
    return _service_to_dict(report)


def service_summary_dict(report: ServiceReport) -> dict[str, Any]:
    """`service_dict` without its incidents (an empty list): what the text and the CSV
    reports print of a service."""
    return _service_to_dict(report, incidents=False)


def service_json_dict(report: ServiceReport) -> dict[str, Any]:
    """`service_dict` with its instants left as datetimes in UTC, for a JSON encoder that
    writes an instant as `report_to_dict` does ("2026-11-01T00:00:00.000001Z": orjson's
    `OPT_UTC_Z`), several times faster than `isoformat` (~400k instants a month)."""
    return _service_to_dict(report, _utc)


def report_header_dict(report: MonthlyReport | ReportHead) -> dict[str, Any]:
    """`report_to_dict` with an empty `services` list, in the same key order. Of a
    `ReportHead`, `empty` is the whole report's."""
    empty = report.empty
    if isinstance(report, ReportHead):
        report = report.report
    tickets = report.tickets
    restoration = _stats_to_dict(tickets.restoration)
    restoration["breaches"] = [
        {"incident_id": check.incident_id, "ticket_number": check.ticket_number}
        for check in tickets.restoration.breaches
    ]
    return {
        "month": report.month,
        "timezone": report.timezone,
        "as_of": _iso(report.as_of),
        "partial": report.partial,
        "empty": empty,
        "services": [],
        "tickets": {
            "count": tickets.count,
            "first_response": _stats_to_dict(tickets.first_response),
            "by_channel": {
                Channel.TELEGRAM.value: _stats_to_dict(tickets.telegram),
                Channel.EMAIL.value: _stats_to_dict(tickets.email),
                Channel.PHONE.value: _stats_to_dict(tickets.phone),
            },
            "by_mode": {
                "normal": _stats_to_dict(tickets.normal),
                "emergency": _stats_to_dict(tickets.emergency),
            },
            "resolution": _stats_to_dict(tickets.resolution),
            "restoration": restoration,
            "handed_off": _stats_to_dict(tickets.handed_off),
        },
        "evidence_head": report.evidence_head,
    }


def report_to_csv(report: MonthlyReport) -> str:
    """One row per service, the service fields without incidents; empty cell for None."""
    data = report_to_dict(report)
    return csv_opening() + csv_services(data, data["services"]) + csv_closing(data)


# `report_to_csv` in pieces, for a writer that never holds the month's services at once:
# `header` is the report's `report_header_dict`, `services` its services' dicts, in order.


def csv_opening() -> str:
    return _csv_rows([CSV_COLUMNS])


def csv_services(header: dict[str, Any], services: Iterable[dict[str, Any]]) -> str:
    same_for_all = {"as_of": header["as_of"], "partial": header["partial"]}
    return _csv_rows(
        [_csv_cell(row[column]) for column in CSV_COLUMNS]
        for row in ({**service, **same_for_all} for service in services)
    )


def csv_closing(header: dict[str, Any]) -> str:
    if header["evidence_head"] is None:
        return ""
    # A footer, not a column: it belongs to the whole report, not to a service.
    return _csv_rows([["evidence_head", header["evidence_head"]]])


def _csv_rows(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def report_to_text(report: MonthlyReport) -> str:
    """A plain-text summary short enough for a Telegram message or a terminal."""
    data = report_to_dict(report)
    lines = text_opening(data, report, len(data["services"]))
    for service in data["services"]:
        lines.extend(service_text(service))
    return "\n".join(lines + text_closing(data, report))


def text_opening(header: dict[str, Any], report: MonthlyReport, listed: int) -> list[str]:
    """The lines of `report_to_text` before its services (`listed` of them); `header`:
    the report's `report_header_dict`. Of a report that lists no service, its tickets
    say whether it is empty; of one that lists any, nothing here depends on them."""
    lines = [f"SLA report {header['month']} ({header['timezone']})"]
    if report.partial:
        lines.append(partial_words(report))
    if header["empty"]:
        lines.append("No services, tickets or incidents in this month.")
        return lines
    lines.append("")
    lines.append(f"Services: {listed}")
    return lines


def text_closing(header: dict[str, Any], report: MonthlyReport) -> list[str]:
    """The lines of `report_to_text` after its services: the tickets, the evidence head."""
    head = [] if report.evidence_head is None else [f"Evidence chain head: {report.evidence_head}"]
    if header["empty"]:
        return head
    lines: list[str] = []
    tickets = header["tickets"]
    lines.append("")
    lines.append(f"Tickets: {tickets['count']}")
    lines.append("First response: " + _stats_text(tickets["first_response"]))
    for name, stats in tickets["by_channel"].items():
        lines.append(f"  {name}: " + _stats_text(stats))
    for name, stats in tickets["by_mode"].items():
        lines.append(f"  {name}: " + _stats_text(stats))
    if tickets["handed_off"]["count"]:
        lines.append("  handed off to other departments: " + _stats_text(tickets["handed_off"]))
    processing = short_duration(report.config.object_storage_processing)
    lines.append(f"Object-storage processing ({processing}): " + _stats_text(tickets["resolution"]))
    restoration = tickets["restoration"]
    labelled = [_restoration_breach_label(breach) for breach in restoration["breaches"]]
    lines.append("Equipment restoration: " + _stats_text({**restoration, "breaches": labelled}))
    return lines + head


def local_time_text(moment: datetime, config: SlaConfig) -> str:
    return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")


def partial_words(report: MonthlyReport) -> str:
    """The running month said in words: the figures stop at `as_of`, not at the month's end."""
    return (
        f"The month is not over: figures to date, as of "
        f"{local_time_text(report.as_of, report.config)} {report.timezone}."
    )


def _restoration_breach_label(breach: dict[str, Any]) -> int | str:
    if breach["ticket_number"] is not None:
        return int(breach["ticket_number"])
    return f"incident {breach['incident_id']}"


def service_text(service: dict[str, Any]) -> list[str]:
    """A service's lines in `report_to_text` (`service`: its `service_dict`)."""
    availability = service["availability_percent"]
    shown = "n/a (not active)" if availability is None else f"{availability} % ({service['tier']})"
    currency = service["currency"]
    trial = "" if service["trial_until"] is None else f" (trial until {service['trial_until']})"
    lines = [
        f"• {service['customer']} — {service['service_name']} ({service['service_type']} "
        f"#{service['service_id']}){trial}: "
        f"availability {shown}",
        f"  downtime {service['downtime_minutes']} min, excluded {service['excluded_minutes']}"
        f" min of {service['active_minutes']} active min",
    ]
    if not service["sla_applies"]:
        lines.append("  no SLA: hosted outside the provider's data centre")
    lines.append(
        f"  credit {service['credit_percent']:g} % = {service['credit_amount']} {currency}, "
        f"data loss {service['data_loss_credit_amount']} {currency}, "
        f"total {service['total_credit_amount']} {currency} of base "
        f"{service['credit_base_amount']} (fee {service['monthly_fee']}); "
        f"claimed: {'yes' if service['claimed'] else 'no'}"
    )
    return lines


def _stats_text(stats: dict[str, Any]) -> str:
    if stats["count"] == 0:
        return "none"
    if stats["measured"] == 0:
        parts = [f"{stats['count']} tickets"]
        if stats["without_target"]:
            parts.append(f"{stats['without_target']} without a target")
        if stats["pending"]:
            parts.append(f"{stats['pending']} pending")
        return ", ".join(parts)
    parts = [
        f"{stats['measured']} measured",
        f"median {stats['median_minutes']} min" if stats["median_minutes"] is not None else "",
        f"p90 {stats['p90_minutes']} min" if stats["p90_minutes"] is not None else "",
        f"within target {stats['within_target_percent']} %",
    ]
    if stats["pending"]:
        parts.append(f"{stats['pending']} pending")
    if stats["breaches"]:
        labels = (f"#{b}" if isinstance(b, int) else str(b) for b in stats["breaches"])
        parts.append("breaches " + ", ".join(labels))
    return ", ".join(part for part in parts if part)
