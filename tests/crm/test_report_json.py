"""`python -m sla report --format json` writes the report one service at a time: the bytes
are those of the whole report dumped at once by the standard library."""

from __future__ import annotations

import json
from datetime import timedelta

from crm.report_cli import report_json
from sla import MonthlyReport, report_to_dict
from tests.sla.factories import almaty, maintenance, outage, report, service, ticket


def whole(month_report: MonthlyReport) -> bytes:
    data = report_to_dict(month_report)
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


def test_a_month_with_services_incidents_and_tickets_streams_the_same_bytes() -> None:
    month_report = report(
        services=[
            service(1, customer_name="Ақжол «Бұлт» LLP"),
            service(2, customer_id=11, customer_name='Quote "and" \\ slash\nline'),
        ],
        incidents=[
            outage(1, almaty(2026, 4, 3, 10), timedelta(minutes=43, seconds=12)),
            outage(2, almaty(2026, 4, 9, 1), None, service_id=2),
        ],
        maintenance_windows=[maintenance(almaty(2026, 4, 3, 10, 30), timedelta(hours=1))],
        tickets=[
            ticket(1, almaty(2026, 4, 1, 9), timedelta(minutes=4)),
            ticket(2, almaty(2026, 4, 2, 9), timedelta(minutes=14)),
        ],
        evidence_head="ab" * 32,
    )
    assert b"".join(report_json(month_report)) == whole(month_report)


def test_an_empty_month_streams_the_same_bytes() -> None:
    month_report = report()
    assert b"".join(report_json(month_report)) == whole(month_report)
