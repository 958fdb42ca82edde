"""The monthly report as a spreadsheet (openpyxl, write-only so 100 000 services fit).

Numbers are numbers with formats (money, percent, minutes), times are the provider's local
times with the zone in the header, services are named, and the first sheet is a summary a
manager reads without the terms at hand.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.charts import report_chart
from crm.models import Customer, Ticket
from sla import IncidentRecord, SlaConfig, TicketRecord, first_response_check, month_bounds
from sla.intervals import short_duration
from sla.targets import Outcome

__all__ = ["WorkbookInput", "report_chart", "report_workbook", "ticket_customers"]

MONEY = "#,##0.00"
PERCENT = "0.0000%"
SHARE = "0.00%"
MINUTES = "#,##0.00"
TIME = "yyyy-mm-dd hh:mm"
TIERS = {
    "met": "met (no credit)",
    "minor": "below target, dash band",
    "major": "major band",
    "severe": "severe band",
}


@dataclass(frozen=True)
class WorkbookInput:
    """What the sheets need beside report_to_dict's figures: the month's ticket and
    incident records, and each ticket's customer name."""

    tickets: Sequence[TicketRecord] = ()
    incidents: Sequence[IncidentRecord] = ()
    customers: Mapping[int, str] = field(default_factory=dict)


async def ticket_customers(session: AsyncSession, month: str, config: SlaConfig) -> dict[int, str]:
    """Ticket number → customer name for the month's tickets (one query, plain rows)."""
    period = month_bounds(month, config.zone)
    rows = await session.execute(
        select(Ticket.id, Customer.name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.opened_at >= period.start, Ticket.opened_at < period.end)
    )
    return {int(number): str(name) for number, name in rows}


class _Sheet:
    def __init__(
        self, workbook: Workbook, title: str, header: Sequence[str], widths: Sequence[int]
    ):
        self.sheet: WriteOnlyWorksheet = workbook.create_sheet(title)
        for index, width in enumerate(widths):
            letter = _letter(index)
            self.sheet.column_dimensions[letter].width = width
        self.sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        cells = []
        for text in header:
            cell = WriteOnlyCell(self.sheet, value=text)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(cell)
        self.sheet.append(cells)

    def row(self, values: Iterable[tuple[Any, str | None]]) -> None:
        cells = []
        for value, number_format in values:
            cell = WriteOnlyCell(self.sheet, value=value)
            if number_format is not None and value is not None:
                cell.number_format = number_format
            cells.append(cell)
        self.sheet.append(cells)


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _local(value: str | datetime | None, config: SlaConfig) -> datetime | None:
    """A naive local time (Excel has no zones; the header names the zone)."""
    if value is None:
        return None
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone(config.zone).replace(tzinfo=None)


def _money(text: str) -> Decimal:
    return Decimal(text)


def _percent(value: float | None) -> float | None:
    return None if value is None else value / 100


def _yes(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def report_workbook(
    report: dict[str, Any], config: SlaConfig | None = None, extra: WorkbookInput | None = None
) -> bytes:
    """Sheets: Summary, Services, Incidents, Tickets, Ticket statistics."""
    config = config or SlaConfig()
    extra = extra or WorkbookInput()
    workbook = Workbook(write_only=True)
    _summary_sheet(workbook, report, config, extra.tickets)
    _services_sheet(workbook, report, config)
    _incidents_sheet(workbook, report, config, extra)
    _tickets_sheet(workbook, config, extra, _as_of(report))
    _statistics_sheet(workbook, report, config)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _as_of(report: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(report["as_of"]).replace("Z", "+00:00"))


def summary_facts(
    report: dict[str, Any], config: SlaConfig, records: Sequence[TicketRecord] = ()
) -> list[tuple[str, Any, str | None]]:
    """(label, value, number format) lines of the summary sheet."""
    services = report["services"]
    target = config.availability_target_percent
    below = [
        s for s in services
        if s["availability_percent"] is not None and s["availability_percent"] < float(target)
    ]  # fmt: skip
    credits: dict[str, Decimal] = {}
    for service in services:
        amount = _money(service["total_credit_amount"])
        if amount:
            credits[service["currency"]] = credits.get(service["currency"], Decimal(0)) + amount
    tickets = report["tickets"]
    first = tickets["first_response"]
    zone = config.timezone
    status = (
        f"MONTH NOT OVER: figures to date, as of {_local(report['as_of'], config):%Y-%m-%d %H:%M}"
        f" ({zone})"
        if report["partial"]
        else "complete month"
    )
    facts: list[tuple[str, Any, str | None]] = [
        ("Month", report["month"], None),
        ("Status", status, None),
        ("Times are local to", zone, None),
        ("Services active in the month", len(services), "#,##0"),
        (f"Services below the {target} % availability guarantee", len(below), "#,##0"),
        (
            "Services with a credit due",
            sum(1 for s in services if s["total_credit_amount"] != "0.00"),
            "#,##0",
        ),
    ]
    for currency, amount in sorted(credits.items()):
        facts.append((f"Credits due in total, {currency}", amount, MONEY))
    if not credits:
        facts.append(("Credits due in total", Decimal(0), MONEY))
    facts += [
        ("Tickets opened", tickets["count"], "#,##0"),
        ("Tickets never answered", sum(1 for t in records if t.first_response_at is None), "#,##0"),
        ("First responses within their target", _percent(first["within_target_percent"]), SHARE),
        ("First-response breaches (tickets)", len(first["breaches"]), "#,##0"),
        ("Restoration breaches (incidents)", len(tickets["restoration"]["breaches"]), "#,##0"),
        ("Evidence chain head", report.get("evidence_head") or "", None),
    ]
    return facts


def _summary_sheet(
    workbook: Workbook, report: dict[str, Any], config: SlaConfig, tickets: Sequence[TicketRecord]
) -> None:
    sheet = _Sheet(workbook, "Summary", ("What", "Figure"), (52, 60))
    for label, value, number_format in summary_facts(report, config, tickets):
        sheet.row([(label, None), (value, number_format)])
    sheet.row([("", None)])
    target, band, major = (
        config.availability_target_percent,
        config.band_lower_bound_percent,
        config.major_lower_bound_percent,
    )
    notes = [
        f"Availability at or above {target} % earns no credit; {band}–{target} % earns "
        f"{config.band_credit_percent} % (the terms print a dash); {major}–{band} % earns "
        f"{config.major_credit_percent} %; below {major} % earns {config.severe_credit_percent} %.",
        "A credit is a percentage of the fee for the part of the month the service was active "
        "and paid (pro rata by minutes); a free trial is not paid and earns none. Credits "
        "never exceed that amount.",
        f"A data loss through the provider's fault adds {config.data_loss_credit_percent} % "
        "of the same amount.",
    ]
    for note in notes:
        sheet.row([("Note", None), (note, None)])


SERVICE_HEADER = (
    "Customer", "Service", "Type", "Service id", "Currency", "Monthly fee", "Trial until ({zone})",
    "Credit base (fee for the paid part of the month)", "Active minutes", "Downtime minutes",
    "Excluded minutes", "Availability", "Band", "SLA applies", "Credit %", "Credit",
    "Data-loss credit", "Total credit", "Claimed",
)  # fmt: skip


def _services_sheet(workbook: Workbook, report: dict[str, Any], config: SlaConfig) -> None:
    header = [h.format(zone=config.timezone) for h in SERVICE_HEADER]
    widths = (28, 22, 14, 10, 9, 14, 18, 18, 12, 12, 12, 12, 22, 8, 9, 14, 14, 14, 8)
    sheet = _Sheet(workbook, "Services", header, widths)
    for s in report["services"]:
        sheet.row(
            [
                (s["customer"], None), (s["service_name"], None), (s["service_type"], None),
                (s["service_id"], "0"), (s["currency"], None),
                (_money(s["monthly_fee"]), MONEY), (_local(s["trial_until"], config), TIME),
                (_money(s["credit_base_amount"]), MONEY), (s["active_minutes"], MINUTES),
                (s["downtime_minutes"], MINUTES), (s["excluded_minutes"], MINUTES),
                (_percent(s["availability_percent"]), PERCENT),
                (TIERS.get(s["tier"] or "", "not measured"), None), (_yes(s["sla_applies"]), None),
                (s["credit_percent"] / 100, "0%"), (_money(s["credit_amount"]), MONEY),
                (_money(s["data_loss_credit_amount"]), MONEY),
                (_money(s["total_credit_amount"]), MONEY), (_yes(s["claimed"]), None),
            ]
        )  # fmt: skip


INCIDENT_HEADER = (
    "Customer", "Service", "Incident", "Ticket", "Status", "Layer",
    "Client's notice, Telegram or stated ({zone})", "Monitoring start ({zone})",
    "Monitoring end ({zone})", "Confirmed by an engineer ({zone})",
    "Restored, as marked ({zone})", "Counted from ({zone})", "Counted to ({zone})",
    "Counted minutes", "Excluded minutes", "Exclusion", "Not counted because", "Data loss",
    "Restoration", "Restoration minutes", "Restoration target met",
)  # fmt: skip


def _incidents_sheet(
    workbook: Workbook, report: dict[str, Any], config: SlaConfig, extra: WorkbookInput
) -> None:
    header = [h.format(zone=config.timezone) for h in INCIDENT_HEADER]
    widths = (24, 20, 9, 8, 11, 13, *(17,) * 7, 10, 10, 14, 16, 9, 11, 11, 11)
    sheet = _Sheet(workbook, "Incidents", header, widths)
    records = {incident.incident_id: incident for incident in extra.incidents}
    for service in report["services"]:
        for line in service["incidents"]:
            record = records.get(line["incident_id"])
            evidence = (
                (record.client_notice_at, record.monitoring_start_at, record.monitoring_end_at,
                 record.confirmed_at, record.restored_at)
                if record is not None
                else (None, None, None, line["confirmed_at"], None)
            )  # fmt: skip
            sheet.row(
                [
                    (service["customer"], None), (service["service_name"], None),
                    (line["incident_id"], "0"), (line["ticket_number"], "0"),
                    (line["status"], None), (line["layer"], None),
                    *((_local(moment, config), TIME) for moment in evidence),
                    (_local(line["start"], config), TIME), (_local(line["end"], config), TIME),
                    (line["counted_minutes"], MINUTES), (line["excluded_minutes"], MINUTES),
                    (line["exclusion"], None), (line["not_counted_reason"], None),
                    (_yes(line["data_loss"]), None), (line["restoration_type"], None),
                    (line["restoration_minutes"], MINUTES), (_yes(line["restoration_met"]), None),
                ]
            )  # fmt: skip


TICKET_HEADER = (
    "Ticket", "Customer", "Channel", "Opened ({zone})", "First response ({zone})",
    "Minutes to first response", "Target minutes", "Within target", "Breach",
)  # fmt: skip


def _tickets_sheet(
    workbook: Workbook, config: SlaConfig, extra: WorkbookInput, as_of: datetime
) -> None:
    header = [h.format(zone=config.timezone) for h in TICKET_HEADER]
    sheet = _Sheet(workbook, "Tickets", header, (8, 28, 10, 17, 17, 12, 10, 12, 8))
    for ticket in sorted(extra.tickets, key=lambda t: t.opened_at):
        check = first_response_check(ticket, config, as_of)
        elapsed = None if check.elapsed is None else check.elapsed.total_seconds() / 60
        target = None if check.target is None else check.target.total_seconds() / 60
        within = {
            Outcome.MET: "yes",
            Outcome.BREACHED: "no",
            Outcome.PENDING: "pending",
            Outcome.NO_TARGET: "no target",
        }[check.outcome]
        if check.outcome is Outcome.BREACHED and ticket.first_response_at is None:
            within = "no (unanswered)"
        sheet.row(
            [
                (ticket.number, "0"), (extra.customers.get(ticket.number, ""), None),
                (ticket.channel.value, None), (_local(ticket.opened_at, config), TIME),
                (_local(ticket.first_response_at, config), TIME), (elapsed, MINUTES),
                (target, MINUTES), (within, None),
                ("yes" if check.outcome is Outcome.BREACHED else "no", None),
            ]
        )  # fmt: skip


def _statistics_sheet(workbook: Workbook, report: dict[str, Any], config: SlaConfig) -> None:
    processing = short_duration(config.object_storage_processing)
    restoration = " / ".join(
        short_duration(target) for target in (config.reboot_restoration, config.repair_restoration)
    )
    tickets = report["tickets"]
    groups: list[tuple[str, dict[str, Any]]] = [("first response, all", tickets["first_response"])]
    groups += [(f"first response, {name}", s) for name, s in tickets["by_channel"].items()]
    groups += [(f"first response, {name} mode", s) for name, s in tickets["by_mode"].items()]
    groups += [(f"processing (object storage, {processing})", tickets["resolution"])]
    groups += [(f"restoration (dedicated, {restoration})", tickets["restoration"])]
    header = ("Measure", "Count", "Measured", "Pending", "Median minutes",
              "90th percentile minutes", "Within target", "Breaches")  # fmt: skip
    sheet = _Sheet(workbook, "Ticket statistics", header, (40, 9, 9, 9, 12, 12, 11, 40))
    for name, stats in groups:
        breaches = ", ".join(
            f"#{b['ticket_number'] or 'incident ' + str(b['incident_id'])}"
            if isinstance(b, dict) else f"#{b}"
            for b in stats["breaches"]
        )  # fmt: skip
        sheet.row(
            [
                (name, None), (stats["count"], "0"), (stats["measured"], "0"),
                (stats["pending"], "0"), (stats["median_minutes"], MINUTES),
                (stats["p90_minutes"], MINUTES), (_percent(stats["within_target_percent"]), SHARE),
                (breaches, None),
            ]
        )  # fmt: skip
