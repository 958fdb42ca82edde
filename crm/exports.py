"""The monthly report as a spreadsheet (openpyxl) and a chart (matplotlib), in memory."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Font

from sla import SERVICE_COLUMNS, SlaConfig, TicketRecord
from sla.intervals import short_duration

INCIDENT_COLUMNS = (
    "service_id", "incident_id", "ticket_number", "status", "layer", "start", "end",
    "counted_minutes", "excluded_minutes", "exclusion", "not_counted_reason", "data_loss",
    "restoration_type", "restoration_minutes", "restoration_met",
)  # fmt: skip


def _sheet(workbook: Workbook, title: str, header: Sequence[str], rows: list[list[Any]]) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        width = max(len(str(cell.value)) if cell.value is not None else 0 for cell in column)
        sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 10), 40)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return str(value)
    return value


def report_workbook(report: dict[str, Any], config: SlaConfig | None = None) -> bytes:
    """Sheets: Services (one row per service), Incidents, Tickets (target statistics).
    `config`: the figures the report was measured against (the terms' by default)."""
    config = config or SlaConfig()
    processing = short_duration(config.object_storage_processing)
    restoration = " / ".join(
        short_duration(target) for target in (config.reboot_restoration, config.repair_restoration)
    )
    workbook = Workbook()
    assert workbook.active is not None
    workbook.remove(workbook.active)
    services = report["services"]
    _sheet(
        workbook,
        "Services",
        SERVICE_COLUMNS,
        [[_cell(service[column]) for column in SERVICE_COLUMNS] for service in services],
    )
    _sheet(
        workbook,
        "Incidents",
        INCIDENT_COLUMNS,
        [
            [service["service_id"]] + [_cell(incident.get(c)) for c in INCIDENT_COLUMNS[1:]]
            for service in services
            for incident in service["incidents"]
        ],
    )
    tickets = report["tickets"]
    groups: list[tuple[str, dict[str, Any]]] = [("all", tickets["first_response"])]
    groups += [(f"channel {name}", stats) for name, stats in tickets["by_channel"].items()]
    groups += [(f"mode {name}", stats) for name, stats in tickets["by_mode"].items()]
    groups += [(f"resolution (object storage, {processing})", tickets["resolution"])]
    groups += [(f"restoration (dedicated, {restoration})", tickets["restoration"])]
    stat_columns = ("count", "median_minutes", "p90_minutes", "within_target_percent", "breaches")
    _sheet(
        workbook,
        "Tickets",
        ("measure", *stat_columns),
        [[name] + [_cell(stats.get(column)) for column in stat_columns] for name, stats in groups],
    )
    info = workbook.create_sheet("About", 0)
    info.append(["month", report["month"]])
    info.append(["timezone", report["timezone"]])
    info.append(["tickets", tickets["count"]])
    info.append(["empty", "yes" if report["empty"] else "no"])
    info.append(["evidence_head", report.get("evidence_head") or ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def report_chart(
    report: dict[str, Any],
    tickets: Sequence[TicketRecord],
    target_minutes: float,
    config: SlaConfig | None = None,
) -> bytes:
    """First-response minutes per ticket against the target line; availability per service
    against the guarantee (`config`: the terms' figures by default)."""
    config = config or SlaConfig()
    guarantee = float(config.availability_target_percent)
    figure = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    responses, availability = figure.subplots(1, 2)

    answered = [t for t in tickets if t.first_response_at is not None]
    minutes = [
        (t.first_response_at - t.opened_at).total_seconds() / 60  # type: ignore[operator]
        for t in answered
    ]
    colors = ["tab:red" if m > target_minutes else "tab:green" for m in minutes]
    responses.bar([f"#{t.number}" for t in answered], minutes, color=colors)
    responses.axhline(
        target_minutes, color="black", linestyle="--", label=f"{target_minutes:g} min"
    )
    responses.set_title(f"First response, {report['month']}")
    responses.set_ylabel("minutes")
    responses.legend(loc="upper right")
    if not answered:
        responses.text(0.5, 0.5, "no answered tickets", ha="center", transform=responses.transAxes)
    responses.tick_params(axis="x", labelrotation=90, labelsize=7)

    services = [s for s in report["services"] if s["availability_percent"] is not None]
    labels = [f"{s['customer']}\n#{s['service_id']}" for s in services]
    values = [s["availability_percent"] for s in services]
    colors = ["tab:blue" if v >= guarantee else "tab:red" for v in values]
    availability.bar(labels, values, color=colors)
    availability.axhline(guarantee, color="black", linestyle="--", label=f"{guarantee:g} %")
    low = min([*values, float(config.band_lower_bound_percent)]) - 0.5
    availability.set_ylim(max(low, 0), 100.05)
    availability.set_title("Availability per service")
    availability.set_ylabel("%")
    availability.legend(loc="lower right")
    if not services:
        availability.text(0.5, 0.5, "no services", ha="center", transform=availability.transAxes)
    availability.tick_params(axis="x", labelsize=7)

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
