"""Tickets handed to another department are counted apart, on support's own target."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sla import report_to_dict, report_to_text
from tests.sla.factories import almaty, report, ticket


def test_handed_off_tickets_are_counted_apart_and_still_measured_against_support() -> None:
    kept = ticket(1, almaty(2026, 4, 10, 9), timedelta(minutes=4))
    handed = dataclasses.replace(
        ticket(2, almaty(2026, 4, 11, 9), timedelta(minutes=25)), handed_off=True
    )
    data = report_to_dict(report(tickets=[kept, handed]))["tickets"]
    assert data["count"] == 2
    assert data["first_response"]["count"] == 2
    assert data["handed_off"]["count"] == 1
    # Support's 10 minutes still apply: the department's 25 minutes are a breach.
    assert data["handed_off"]["breaches"] == [2]
    text = report_to_text(report(tickets=[kept, handed]))
    assert "handed off to other departments: " in text


def test_a_month_without_hand_offs_says_nothing_about_them() -> None:
    text = report_to_text(report(tickets=[ticket(1, almaty(2026, 4, 10, 9), timedelta(minutes=4))]))
    assert "handed off" not in text
