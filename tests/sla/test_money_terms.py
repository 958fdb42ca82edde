"""The money as the terms count it: the pro rata base and cap (A 5.8, 5.9, 5.14 /
B 5.4, 5.5, 5.10), the object-storage trial (B 3), the running month said to be to date.

Every figure is worked out by hand in the comments, never by calling the engine twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from sla import ServiceType, SlaConfig, report_to_csv, report_to_dict, report_to_text
from sla.credits import credit_base
from tests.sla.factories import almaty, minutes, outage, report, service

OCTOBER = "2026-10"  # 31 days = 44 640 minutes
AFTER_OCTOBER = almaty(2026, 11, 2)
MONTH = timedelta(days=31)


def only_service(month: str, now: datetime, *args: object, **kwargs: object) -> dict[str, object]:
    data = report_to_dict(report(month, *args, now=now, **kwargs))  # type: ignore[arg-type]
    (line,) = data["services"]
    return dict(line)


@pytest.mark.parametrize(
    ("clause", "fee", "paid", "expected"),
    [
        # A 5.8 / B 5.4: the whole month active and paid: the whole fee.
        ("A5.8 whole month", "150000.00", MONTH, "150000.00"),
        # From the 16th: 16 of 31 days; 150000 × 16 / 31 = 77419.354… → 77419.35.
        ("A5.8 from the 16th", "150000.00", timedelta(days=16), "77419.35"),
        # One minute of the month: 150000 / 44640 = 3.3602… → 3.36.
        ("A5.14 one minute", "150000.00", timedelta(minutes=1), "3.36"),
        # Half a cent rounds up: 0.31 × 1/2 … 31 days, 15.5 days → 0.155 → 0.16.
        ("A5.9 half a cent", "0.31", timedelta(days=15, hours=12), "0.16"),
        # B 3: a month spent in the trial is not paid: nothing to credit.
        ("B3 trial only", "60000.00", timedelta(), "0.00"),
    ],
)
def test_credit_base_is_the_fee_for_the_paid_minutes_A5_8_A5_14_B5_4(
    clause: str, fee: str, paid: timedelta, expected: str
) -> None:
    assert credit_base(Decimal(fee), paid, MONTH, SlaConfig()) == Decimal(expected), clause


def test_full_fee_reading_is_a_setting_A5_8() -> None:
    config = SlaConfig(credit_base="full_fee")
    assert credit_base(Decimal("150000"), timedelta(days=16), MONTH, config) == Decimal("150000.00")
    assert credit_base(Decimal("150000"), timedelta(), MONTH, config) == Decimal("0.00")
    with pytest.raises(ValueError, match="credit_base"):
        SlaConfig(credit_base="whole")


def test_dedicated_from_the_16th_with_a_240_minute_outage_gets_10_percent_of_pro_rata_A5_8() -> (
    None
):
    # Active 2026-10-16 00:00 → 2026-11-01 00:00 local = 16 days = 23 040 minutes.
    # Availability 100 × (23040 − 240) / 23040 = 98.9583 % → [95, 99) → 10 % (A 5.8).
    # Base 150000 × 23040 / 44640 = 150000 × 16/31 = 77419.354… → 77419.35 KZT;
    # credit 10 % = 7741.935 → 7741.94 KZT (half up).
    dedicated = service(fee=Decimal("150000.00"), active_from=almaty(2026, 10, 16))
    line = only_service(
        OCTOBER,
        AFTER_OCTOBER,
        [dedicated],
        [outage(1, almaty(2026, 10, 20, 10), minutes(240))],
    )
    assert line["active_minutes"] == 23040
    assert line["downtime_minutes"] == 240
    assert line["availability_percent"] == 98.9583
    assert line["tier"] == "major"
    assert line["credit_base_amount"] == "77419.35"
    assert line["credit_amount"] == "7741.94"
    assert line["total_credit_amount"] == "7741.94"


def test_cap_is_the_pro_rata_amount_paid_A5_9_B5_5() -> None:
    # From the 16th (base 77419.35), a 2-day outage (15 %) plus a data loss (50 %):
    # 11612.90 + 38709.68 = 50322.58 ≤ 77419.35, under the cap; with the data-loss credit
    # at 100 % the total 11612.90 + 77419.35 = 89032.25 is capped at 77419.35.
    dedicated = service(fee=Decimal("150000.00"), active_from=almaty(2026, 10, 16))
    loss = outage(1, almaty(2026, 10, 20, 10), timedelta(days=2), data_loss=True)
    config = SlaConfig(data_loss_credit_percent=Decimal("100"))
    line = only_service(OCTOBER, AFTER_OCTOBER, [dedicated], [loss], config=config)
    assert line["credit_amount"] == "11612.90"  # 77419.35 × 15 % = 11612.9025
    assert line["data_loss_credit_amount"] == "77419.35"
    assert line["total_credit_amount"] == "77419.35"


def test_a_service_ended_mid_month_is_clipped_and_its_base_too_A5_8() -> None:
    # Active 2026-10-01 → ended 2026-10-11 00:00: 10 days; base 31000 × 10/31 = 10000.00.
    ended = service(fee=Decimal("31000.00"), active_to=almaty(2026, 10, 11))
    line = only_service(OCTOBER, AFTER_OCTOBER, [ended], [])
    assert line["active_minutes"] == 10 * 1440
    assert line["credit_base_amount"] == "10000.00"


def storage_on_trial(**overrides: object) -> object:
    # Object storage activated 2026-10-05 00:00 local, 3-day trial to 2026-10-08 00:00.
    record = service(
        service_type=ServiceType.OBJECT_STORAGE,
        fee=Decimal("60000.00"),
        active_from=almaty(2026, 10, 5),
    )
    return replace(record, trial_until=almaty(2026, 10, 8), **overrides)


def test_outage_and_data_loss_during_the_trial_earn_no_credit_B3_B5_10() -> None:
    # A 6-hour outage with data lost on 2026-10-06, inside the trial: free of charge, so
    # nothing was paid for it: no tier credit, no data-loss credit. The month is measured
    # from the switch to paid, 2026-10-08 → 2026-11-01 = 24 days = 34 560 minutes, 100 %.
    loss = outage(1, almaty(2026, 10, 6, 10), minutes(360), layer=None, data_loss=True)
    line = only_service(OCTOBER, AFTER_OCTOBER, [storage_on_trial()], [loss])
    assert line["trial_until"] == "2026-10-07T19:00:00Z"
    assert line["active_minutes"] == 34560
    assert line["downtime_minutes"] == 0
    assert line["data_loss_credit_amount"] == "0.00"
    assert line["total_credit_amount"] == "0.00"


def test_a_month_wholly_in_the_trial_has_base_zero_B3() -> None:
    # Reported on 2026-10-06 12:00, inside the trial: no paid minute yet, so no
    # availability under the SLA and a base, hence a credit, of 0.
    loss = outage(1, almaty(2026, 10, 6, 10), minutes(60), layer=None, data_loss=True)
    line = only_service(OCTOBER, almaty(2026, 10, 6, 12), [storage_on_trial()], [loss])
    assert line["credit_base_amount"] == "0.00"
    assert line["availability_percent"] is None
    assert line["total_credit_amount"] == "0.00"


def test_after_the_trial_the_credit_is_pro_rata_from_the_conversion_B3_B5_4() -> None:
    # Paid from 2026-10-08 00:00: 24 days = 34 560 minutes; base 60000 × 24/31 = 46451.61.
    # A 600-minute outage on 2026-10-20: 100 × 33960 / 34560 = 98.2638 % → 10 %;
    # credit 46451.61 × 10 % = 4645.161 → 4645.16 KZT.
    late = outage(1, almaty(2026, 10, 20, 10), minutes(600), layer=None)
    line = only_service(OCTOBER, AFTER_OCTOBER, [storage_on_trial()], [late])
    assert line["credit_base_amount"] == "46451.61"
    assert line["availability_percent"] == 98.2638
    assert line["tier"] == "major"
    assert line["total_credit_amount"] == "4645.16"


def test_a_trial_switched_off_before_its_end_was_never_paid_B3() -> None:
    line = only_service(
        OCTOBER, AFTER_OCTOBER, [storage_on_trial(active_to=almaty(2026, 10, 7))], []
    )
    assert line["credit_base_amount"] == "0.00"


def test_the_running_month_is_said_to_be_to_date() -> None:
    now = almaty(2026, 10, 20, 14, 7)
    running = report(OCTOBER, [service(active_from=almaty(2026, 10, 1))], now=now)
    data = report_to_dict(running)
    assert data["partial"] is True
    assert data["as_of"] == "2026-10-20T09:07:00Z"
    text = report_to_text(running)
    assert "The month is not over: figures to date, as of 2026-10-20 14:07 Asia/Almaty." in text
    rows = report_to_csv(running).splitlines()
    assert rows[0].endswith(",as_of,partial")
    assert rows[1].endswith(",2026-10-20T09:07:00Z,yes")


def test_a_month_that_is_over_is_as_of_its_end() -> None:
    data = report_to_dict(report(OCTOBER, [service()], now=AFTER_OCTOBER))
    assert data["partial"] is False
    assert data["as_of"] == "2026-10-31T19:00:00Z"
    assert "not over" not in report_to_text(report(OCTOBER, [service()], now=AFTER_OCTOBER))
