"""The spreadsheet read back with openpyxl (types and formats, not just text) and the chart
rendered for an empty month, a normal one and one with 100 000 services."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

from openpyxl import load_workbook

from crm.charts import WORST, _worst, report_chart
from crm.exports import WorkbookInput, report_workbook
from sla import (
    IncidentRecord,
    IncidentStatus,
    Layer,
    ServiceRecord,
    SlaConfig,
    TicketRecord,
    build_monthly_report,
    report_to_dict,
)

CONFIG = SlaConfig()
AFTER_OCTOBER = datetime(2026, 11, 2, tzinfo=UTC)
OCT_20_10_LOCAL = datetime(2026, 10, 20, 5, 0, tzinfo=UTC)


def service(service_id: int, name: str, **overrides: Any) -> ServiceRecord:
    values: dict[str, Any] = {
        "service_id": service_id,
        "customer_id": service_id,
        "customer_name": f"Customer {service_id} LLP",
        "service_type": "dedicated",
        "monthly_fee": Decimal("150000.00"),
        "currency": "KZT",
        "active_from": datetime(2026, 10, 15, 19, 0, tzinfo=UTC),  # 16 October, local
        "active_to": None,
        "in_provider_dc": True,
        "name": name,
    }
    values.update(overrides)
    return ServiceRecord(**values)


def october(now: datetime = AFTER_OCTOBER) -> tuple[dict[str, Any], WorkbookInput]:
    services = [service(1, "rack-1"), service(2, "rack-2")]
    outage = IncidentRecord(
        incident_id=7,
        service_id=1,
        ticket_number=1,
        client_notice_at=OCT_20_10_LOCAL,
        monitoring_start_at=OCT_20_10_LOCAL + timedelta(minutes=2),
        status=IncidentStatus.CONFIRMED,
        confirmed_at=OCT_20_10_LOCAL + timedelta(minutes=5),
        layer=Layer.HARDWARE,
        restored_at=OCT_20_10_LOCAL + timedelta(minutes=240),
    )
    tickets = [
        TicketRecord(1, "telegram", None, "outage", OCT_20_10_LOCAL,
                     OCT_20_10_LOCAL + timedelta(minutes=4)),
        TicketRecord(2, "telegram", None, "question", OCT_20_10_LOCAL + timedelta(hours=1), None),
    ]  # fmt: skip
    report = build_monthly_report(
        "2026-10", services, [outage], [], tickets, [(1, "2026-10")], CONFIG, now
    )
    extra = WorkbookInput(tickets, [outage], {1: "Customer 1 LLP", 2: "Customer 2 LLP"})
    return report_to_dict(report), extra


def sheet_rows(workbook: Any, title: str) -> list[dict[str, Any]]:
    rows = list(workbook[title].iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_the_spreadsheet_holds_numbers_times_and_names_a_manager_can_use() -> None:
    data, extra = october()
    workbook = load_workbook(BytesIO(report_workbook(data, CONFIG, extra)))
    assert workbook.sheetnames == [
        "Summary", "Services", "Incidents", "Tickets", "Ticket statistics",
    ]  # fmt: skip

    rack_1, rack_2 = sheet_rows(workbook, "Services")
    assert rack_1["Service"].value == "rack-1"
    assert rack_1["Customer"].value == "Customer 1 LLP"
    # Money is a number Excel can sum, shown with two decimals.
    base = rack_1["Credit base (fee for the paid part of the month)"]
    assert base.value == 77419.35 and base.number_format == "#,##0.00"
    total = rack_1["Total credit"]
    assert total.value == 7741.94 and total.number_format == "#,##0.00"
    assert rack_2["Total credit"].value == 0  # a number, not an empty cell or "0.00"
    availability = rack_1["Availability"]
    assert isinstance(availability.value, float) and availability.number_format == "0.0000%"
    assert round(availability.value, 6) == 0.989583
    assert rack_1["Band"].value == "major band"
    assert rack_1["Downtime minutes"].value == 240
    assert rack_1["Claimed"].value == "yes"

    (incident,) = sheet_rows(workbook, "Incidents")
    notice = incident["Client's notice, Telegram or stated (Asia/Almaty)"]
    assert notice.value == datetime(2026, 10, 20, 10, 0)  # local, the zone in the header
    assert notice.number_format == "yyyy-mm-dd hh:mm"
    assert incident["Monitoring start (Asia/Almaty)"].value == datetime(2026, 10, 20, 10, 2)
    assert incident["Confirmed by an engineer (Asia/Almaty)"].value == datetime(2026, 10, 20, 10, 5)
    assert incident["Restored, as marked (Asia/Almaty)"].value == datetime(2026, 10, 20, 14, 0)
    assert incident["Counted minutes"].value == 240

    answered, unanswered = sheet_rows(workbook, "Tickets")
    assert answered["Customer"].value == "Customer 1 LLP"
    assert answered["Minutes to first response"].value == 4
    assert answered["Within target"].value == "yes" and answered["Breach"].value == "no"
    assert unanswered["First response (Asia/Almaty)"].value is None
    assert unanswered["Within target"].value == "no (unanswered)"
    assert unanswered["Breach"].value == "yes"

    summary = {row[0].value: row[1] for row in workbook["Summary"].iter_rows() if row[0].value}
    assert summary["Status"].value == "complete month"
    assert summary["Credits due in total, KZT"].value == 7741.94
    assert summary["Tickets never answered"].value == 1
    assert summary["First-response breaches (tickets)"].value == 1


def test_the_spreadsheet_of_a_running_month_says_so() -> None:
    data, extra = october(now=datetime(2026, 10, 25, 9, 7, tzinfo=UTC))
    workbook = load_workbook(BytesIO(report_workbook(data, CONFIG, extra)))
    summary = {
        row[0].value: row[1].value for row in workbook["Summary"].iter_rows() if row[0].value
    }
    assert summary["Status"] == (
        "MONTH NOT OVER: figures to date, as of 2026-10-25 14:07 (Asia/Almaty)"
    )


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_chart_of_an_empty_month_says_no_tickets() -> None:
    empty = report_to_dict(
        build_monthly_report("2026-10", [], [], [], [], [], CONFIG, AFTER_OCTOBER)
    )
    assert png_size(report_chart(empty, [], 10, CONFIG)) == (1300, 600)


def test_chart_of_a_normal_month() -> None:
    data, extra = october()
    assert png_size(report_chart(data, extra.tickets, 10, CONFIG)) == (1300, 600)


def test_chart_of_a_month_with_100k_services_shows_the_worst_20() -> None:
    data, extra = october()
    template = data["services"][1]
    services = [
        {**template, "service_id": i, "service_name": f"vm-{i}",
         "availability_percent": 100.0 - (i % 997) / 100, "downtime_minutes": float(i % 997)}
        for i in range(100_000)
    ]  # fmt: skip
    data = {**data, "services": services}
    worst = _worst(services)
    assert len(worst) == WORST
    assert worst[0]["availability_percent"] == 100.0 - 996 / 100
    assert png_size(report_chart(data, extra.tickets, 10, CONFIG)) == (1300, 600)
