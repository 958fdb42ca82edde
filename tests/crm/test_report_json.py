"""`python -m sla report --format json` writes the report one service at a time: the bytes
are those of the whole report dumped at once by the standard library."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.report_cli import _JsonWriter, report_json
from sla import MonthlyReport, report_to_dict
from sla.report import _iso, _utc, report_header_dict, service_json_dict
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


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    whole_second=st.booleans(),
)
def test_a_streamed_service_writes_its_instants_as_the_report_does(
    moment: datetime, whole_second: bool
) -> None:
    """The streamed report leaves a service's instants to the encoder
    (`service_json_dict`); written, each is the text of `report_to_dict`'s."""
    if whole_second:
        moment = moment.replace(microsecond=0)
    in_almaty = moment.astimezone(ZoneInfo("Asia/Almaty"))
    for given_moment in (moment, in_almaty):
        assert _utc(given_moment) == moment
        encoded = orjson.dumps({"at": _utc(given_moment)}, option=orjson.OPT_UTC_Z)
        assert encoded == json.dumps({"at": _iso(given_moment)}, separators=(",", ":")).encode()


def test_a_month_streamed_with_instants_left_to_the_encoder_is_the_same_bytes() -> None:
    month_report = report(
        services=[
            replace(service(1), trial_until=almaty(2026, 4, 2, 7, 30) + timedelta(microseconds=15)),
            service(2, customer_name="Ақжол «Бұлт» LLP"),
            service(3),
        ],
        incidents=[
            outage(
                1,
                almaty(2026, 4, 3, 10) + timedelta(microseconds=1),
                timedelta(minutes=43, microseconds=7),
            ),
            outage(2, almaty(2026, 4, 9, 1), None),
        ],
    )
    services = [service_json_dict(line) for line in month_report.services]
    assert len(services) == 3
    # Written in batches of any size, one at a time or all at once: the same bytes.
    for size in (1, 2, 3):
        writer = _JsonWriter(report_header_dict(month_report))
        parts = [writer.services(services[at : at + size]) for at in range(0, 3, size)]
        assert b"".join([*parts, writer.end()]) == whole(month_report)
