"""The Telegram summary a manager reads first: the worst services by name, the credits due,
the breaches, and a running month said to be to date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.reports import telegram_summary
from sla import SlaConfig, build_monthly_report
from tests.crm.test_exports import OCT_20_10_LOCAL, october, service
from tests.sla.factories import outage


def test_summary_names_the_worst_services_and_the_breaches() -> None:
    _, extra = october()
    services = [service(1, "rack-1"), service(2, "rack-2"), service(3, "rack-3")]
    incidents = [
        outage(7, OCT_20_10_LOCAL, timedelta(minutes=240), service_id=1),
        outage(8, OCT_20_10_LOCAL, timedelta(minutes=30), service_id=3),
    ]
    report = build_monthly_report(
        "2026-10", services, incidents, [], extra.tickets, [(1, "2026-10")], SlaConfig(),
        datetime(2026, 11, 2, tzinfo=UTC),
    )  # fmt: skip
    text = telegram_summary(report, extra.tickets)
    assert text.splitlines() == [
        "SLA report 2026-10 (Asia/Almaty)",
        "Services: 3; below 99.9 %: 2.",
        "Credits due: 7741.94 KZT.",
        "Worst services:",
        "• Customer 1 LLP — rack-1: 98.9583 %, down 240 min, credit 7741.94 KZT (claimed)",
        "• Customer 3 LLP — rack-3: 99.8697 %, down 30 min",
        "Tickets: 2; first response within target (Telegram 10 min): 50.0 %; 1 not answered.",
        "First-response breaches (1): #2",
    ]


def test_summary_of_a_running_month_says_it_is_to_date() -> None:
    report = build_monthly_report(
        "2026-10", [service(1, "rack-1")], [], [], [], [], SlaConfig(),
        datetime(2026, 10, 25, 9, 7, tzinfo=UTC),
    )  # fmt: skip
    lines = telegram_summary(report).splitlines()
    assert lines[1] == "The month is not over: figures to date, as of 2026-10-25 14:07 Asia/Almaty."
    assert lines[-1] == "No tickets this month."
