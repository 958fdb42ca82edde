"""The monthly report: what it contains and the shapes it is rendered in."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from sla import (
    SERVICE_COLUMNS,
    Channel,
    IncidentRecord,
    Layer,
    RestorationType,
    ServiceType,
    report_to_csv,
    report_to_dict,
    report_to_text,
)
from tests.sla.factories import (
    THIRTY_DAY_MONTH,
    almaty,
    minutes,
    outage,
    report,
    service,
    ticket,
)

SERVICE_KEYS = {*SERVICE_COLUMNS, "incidents"}
STATS_KEYS = {
    "count",
    "measured",
    "pending",
    "without_target",
    "median_minutes",
    "p90_minutes",
    "within_target_percent",
    "breaches",
}


def busy_month() -> dict[str, Any]:
    storage = service(
        2, service_type=ServiceType.OBJECT_STORAGE, fee=Decimal("1500"), customer_name="Beta"
    )
    incidents = [
        outage(1, almaty(2026, 4, 10, 9), minutes(45), restoration_type=RestorationType.REBOOT),
        outage(2, almaty(2026, 4, 12, 9), minutes(50), restoration_type=RestorationType.REBOOT),
        outage(3, almaty(2026, 4, 14, 9), minutes(30), service_id=2, layer=Layer.OS),
    ]
    tickets = [
        ticket(101, almaty(2026, 4, 10, 9), minutes(4)),
        ticket(102, almaty(2026, 4, 11, 9), minutes(25)),
        ticket(103, almaty(2026, 4, 12, 9), minutes(50), emergency=True),
        ticket(104, almaty(2026, 4, 13, 9), timedelta(hours=30), channel=Channel.EMAIL),
        ticket(105, almaty(2026, 4, 14, 9), minutes(0), channel=Channel.PHONE),
        ticket(
            106,
            almaty(2026, 4, 15, 9),
            minutes(3),
            service_type=ServiceType.OBJECT_STORAGE,
            resolved_after=timedelta(hours=30),
        ),
        ticket(107, almaty(2026, 3, 31, 9), minutes(99)),  # March: not in this report
    ]
    result = report(
        THIRTY_DAY_MONTH,
        [service(), storage],
        incidents,
        tickets=tickets,
        claims=[(2, THIRTY_DAY_MONTH), (1, "2026-03")],
    )
    return report_to_dict(result)


def test_report_dict_has_the_agreed_shape_and_is_json_ready() -> None:
    data = busy_month()
    assert set(data) == {
        "month", "timezone", "as_of", "partial", "empty", "services", "tickets", "evidence_head",
    }  # fmt: skip
    assert (data["month"], data["timezone"], data["empty"]) == ("2026-04", "Asia/Almaty", False)
    for line in data["services"]:
        assert set(line) == SERVICE_KEYS
    tickets = data["tickets"]
    assert set(tickets) == {
        "count",
        "first_response",
        "by_channel",
        "by_mode",
        "resolution",
        "restoration",
        "handed_off",
    }
    assert set(tickets["by_channel"]) == {"telegram", "email", "phone"}
    assert set(tickets["by_mode"]) == {"normal", "emergency"}
    for stats in [
        tickets["first_response"],
        *tickets["by_channel"].values(),
        *tickets["by_mode"].values(),
        tickets["resolution"],
        tickets["restoration"],
    ]:
        assert set(stats) == STATS_KEYS
    json.dumps(data)  # no Decimal, datetime or enum left


def test_service_figures_are_typed_for_accounting_tools() -> None:
    dedicated, storage = busy_month()["services"]
    assert dedicated["customer"] == "Acme LLP"
    assert dedicated["monthly_fee"] == "100000.00"
    assert storage["monthly_fee"] == "1500.00"
    assert dedicated["downtime_minutes"] == 95.0
    assert dedicated["active_minutes"] == 43200.0
    assert dedicated["availability_percent"] == 99.78  # 100 × 43105 / 43200 = 99.78009…
    assert dedicated["tier"] == "minor"
    assert dedicated["credit_percent"] == 0.0
    assert dedicated["total_credit_amount"] == "0.00"
    assert (dedicated["claimed"], storage["claimed"]) == (False, True)
    assert storage["downtime_minutes"] == 30.0  # B 4.1: OS counts for storage


def test_printed_availability_never_rounds_up_into_a_better_tier() -> None:
    # 43.2021 minutes of 43 200 is 99.899995 %: rounding would print 99.9 beside "minor".
    outage_just_over = outage(
        1, almaty(2026, 4, 10), timedelta(minutes=43, seconds=12, milliseconds=126)
    )
    line = report_to_dict(report(THIRTY_DAY_MONTH, [service()], [outage_just_over]))
    assert line["services"][0]["availability_percent"] == 99.8999
    assert line["services"][0]["tier"] == "minor"


def test_incident_lines_carry_evidence_times_in_utc() -> None:
    first, second = busy_month()["services"][0]["incidents"]
    assert first["ticket_number"] == 1001
    assert (first["start"], first["end"]) == ("2026-04-10T04:00:00Z", "2026-04-10T04:45:00Z")
    assert first["layer"] == "hardware"
    assert first["counted_minutes"] == 45.0
    assert (first["restoration_met"], second["restoration_met"]) == (True, False)


def test_ticket_statistics_in_report() -> None:
    tickets = busy_month()["tickets"]
    assert tickets["count"] == 6
    first_response = tickets["first_response"]
    assert first_response["breaches"] == [102, 104]
    assert first_response["within_target_percent"] == 60.0  # 3 of 5; phone has no target
    assert first_response["median_minutes"] == 25.0
    telegram = tickets["by_channel"]["telegram"]
    assert (telegram["count"], telegram["breaches"]) == (4, [102])
    assert tickets["by_channel"]["email"]["breaches"] == [104]
    assert tickets["by_channel"]["phone"]["without_target"] == 1
    emergency = tickets["by_mode"]["emergency"]
    assert (emergency["count"], emergency["within_target_percent"]) == (1, 100.0)
    assert tickets["by_mode"]["normal"]["count"] == 5
    assert (tickets["resolution"]["count"], tickets["resolution"]["breaches"]) == (1, [106])


def test_restoration_breaches_name_incident_and_ticket() -> None:  # A 5.7
    restoration = busy_month()["tickets"]["restoration"]
    assert restoration["count"] == 2
    assert restoration["within_target_percent"] == 50.0
    assert restoration["breaches"] == [{"incident_id": 2, "ticket_number": 1002}]


def test_month_with_no_data_is_an_empty_report() -> None:
    data = report_to_dict(report(THIRTY_DAY_MONTH))
    assert data["empty"] is True
    assert data["services"] == []
    assert data["tickets"]["count"] == 0
    assert data["tickets"]["first_response"]["breaches"] == []
    assert "No services" in report_to_text(report(THIRTY_DAY_MONTH))


def test_services_not_active_in_the_month_are_left_out() -> None:
    ended_in_march = service(active_from=almaty(2025, 1, 1), active_to=almaty(2026, 4, 1))
    assert report(THIRTY_DAY_MONTH, [ended_in_march]).empty


def test_service_starting_later_this_month_has_no_availability_yet() -> None:
    upcoming = service(active_from=almaty(2026, 4, 20))
    result = report(THIRTY_DAY_MONTH, [upcoming], now=almaty(2026, 4, 15))
    line = report_to_dict(result)["services"][0]
    assert (line["active_minutes"], line["availability_percent"], line["tier"]) == (0.0, None, None)
    assert line["total_credit_amount"] == "0.00"


@pytest.mark.parametrize("month", ["2026-13", "2026-4", "April"])
def test_invalid_month_is_rejected(month: str) -> None:
    with pytest.raises(ValueError, match="month"):
        report(month)


def test_month_entirely_in_the_future_is_rejected() -> None:
    with pytest.raises(ValueError, match="future"):
        report("2026-06", now=almaty(2026, 5, 31, 23, 59))


def test_current_month_is_reported_to_date() -> None:
    assert report("2026-06", now=almaty(2026, 6, 1)).empty


def test_incident_for_unknown_service_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        report(THIRTY_DAY_MONTH, [service(1)], [IncidentRecord(1, 99)])


def test_duplicate_service_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        report(THIRTY_DAY_MONTH, [service(1), service(1)])


def test_unconfirmed_open_client_report_is_not_listed_in_later_months() -> None:  # AMB-12
    stale = IncidentRecord(1, 1, client_notice_at=almaty(2026, 3, 5))
    assert report("2026-03", [service()], [stale]).services[0].incidents
    assert not report(THIRTY_DAY_MONTH, [service()], [stale]).services[0].incidents


def test_csv_has_one_row_per_service_without_incidents() -> None:
    text = report_to_csv(report(THIRTY_DAY_MONTH, [service(1), service(2, customer_name="Beta")]))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == (*SERVICE_COLUMNS, "as_of", "partial")
    assert [row["service_id"] for row in rows] == ["1", "2"]
    assert rows[0]["total_credit_amount"] == "0.00"
    assert rows[0]["claimed"] == "no"


def test_text_summary_names_customers_credits_and_breaches() -> None:
    result = report(
        THIRTY_DAY_MONTH,
        [service(fee=Decimal("1500"))],
        [outage(1, almaty(2026, 4, 10), timedelta(hours=10))],
        tickets=[ticket(102, almaty(2026, 4, 11, 9), minutes(25))],
    )
    text = report_to_text(result)
    assert "SLA report 2026-04 (Asia/Almaty)" in text
    assert "Acme LLP" in text
    assert "credit 10 % = 150.00 KZT" in text
    assert "#102" in text


def test_the_evidence_head_handed_in_is_printed_in_every_format() -> None:
    head = "ab" * 32
    result = report(THIRTY_DAY_MONTH, [service()], evidence_head=head)
    assert report_to_dict(result)["evidence_head"] == head
    assert report_to_csv(result).splitlines()[-1] == f"evidence_head,{head}"
    assert report_to_text(result).splitlines()[-1] == f"Evidence chain head: {head}"
    empty = report(THIRTY_DAY_MONTH, evidence_head=head)
    assert report_to_text(empty).splitlines()[-1] == f"Evidence chain head: {head}"


def test_without_a_head_the_report_prints_none() -> None:
    result = report(THIRTY_DAY_MONTH, [service()])
    assert report_to_dict(result)["evidence_head"] is None
    assert "evidence_head" not in report_to_csv(result)
    assert "Evidence chain head" not in report_to_text(result)
