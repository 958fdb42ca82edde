"""Availability tiers and credits (terms A 5.8-5.14 / B 5.4-5.10)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from sla import (
    CreditResult,
    Exclusion,
    Layer,
    SlaConfig,
    Tier,
    availability_percent,
    compute_credit,
    tier_for,
)
from tests.sla.factories import (
    THIRTY_DAY_MONTH,
    almaty,
    minutes,
    outage,
    report,
    service,
)

THIRTY_DAYS = timedelta(days=30)
MICROSECOND = timedelta(microseconds=1)


def credit_for(
    counted: timedelta,
    *,
    fee: Decimal = Decimal("100000.00"),
    data_loss: bool = False,
    sla: bool = True,
    config: SlaConfig | None = None,
    active: timedelta = THIRTY_DAYS,
) -> CreditResult:
    return compute_credit(
        monthly_fee=fee,
        active=active,
        counted=counted,
        provider_data_loss=data_loss,
        sla_applies=sla,
        config=config or SlaConfig(),
    )


@pytest.mark.parametrize(
    ("downtime", "tier", "credit_percent"),
    [
        # A 5.8 / B 5.4 with lower bounds inclusive (AMB-2), in a 43 200-minute month.
        (timedelta(), Tier.MET, 0),
        (minutes(43), Tier.MET, 0),  # 99.9005 %
        (minutes(43.2), Tier.MET, 0),  # exactly 99.9 %: the guarantee is met
        (minutes(43.2) + MICROSECOND, Tier.MINOR, 0),  # just below 99.9 %
        (minutes(45), Tier.MINOR, 0),  # 99.8958 %: the dash band, 0 % by default (AMB-1)
        (minutes(432), Tier.MINOR, 0),  # exactly 99.0 %
        (minutes(432) + MICROSECOND, Tier.MAJOR, 10),
        (minutes(2160), Tier.MAJOR, 10),  # exactly 95.0 %
        (minutes(2160) + MICROSECOND, Tier.SEVERE, 15),
        (THIRTY_DAYS, Tier.SEVERE, 15),  # down all month
    ],
)
def test_credit_tier_boundaries_have_inclusive_lower_bounds(  # A 5.8 / B 5.4, AMB-2
    downtime: timedelta, tier: Tier, credit_percent: int
) -> None:
    result = credit_for(downtime)
    assert result.tier is tier
    assert result.credit_percent == credit_percent
    assert result.credit_amount == Decimal(100000) * credit_percent / 100


def test_43_minute_outage_in_30_day_month_is_99_9005_percent_and_earns_nothing() -> None:
    result = credit_for(minutes(43))
    assert result.availability == Fraction(100) * (43200 - 43) / 43200
    assert round(float(result.availability or 0), 4) == 99.9005
    assert result.total_credit_amount == Decimal("0.00")


def test_45_minute_outage_in_30_day_month_is_99_8958_percent_in_dash_band() -> None:
    result = credit_for(minutes(45))
    assert round(float(result.availability or 0), 4) == 99.8958
    assert result.tier is Tier.MINOR


def test_dash_band_credit_is_configurable() -> None:  # A 5.8 / B 5.4, AMB-1
    result = credit_for(minutes(45), config=SlaConfig(band_credit_percent=Decimal("5")))
    assert result.credit_percent == 5
    assert result.credit_amount == Decimal("5000.00")


def test_tier_is_decided_on_unrounded_availability() -> None:
    availability = Fraction(100) - Fraction(1, 10**9)  # prints as 100.0000 at 4 places
    assert tier_for(availability, SlaConfig()) is Tier.MET
    just_below = Fraction(999, 10) - Fraction(1, 10**12)  # prints as 99.9 when rounded
    assert tier_for(just_below, SlaConfig()) is Tier.MINOR


def test_credit_amount_rounds_half_up_to_cents() -> None:
    # 10 % of 100.05 is 10.005: half-up gives 10.01 where banker's rounding gives 10.00.
    result = credit_for(minutes(1000), fee=Decimal("100.05"))
    assert result.credit_amount == Decimal("10.01")


def test_data_loss_credit_is_half_the_month_fee() -> None:  # A 5.14 / B 5.10
    result = credit_for(timedelta(), data_loss=True)
    assert result.data_loss_credit_amount == Decimal("50000.00")
    assert result.total_credit_amount == Decimal("50000.00")


def test_data_loss_plus_severe_outage_adds_up_to_65_percent() -> None:
    result = credit_for(THIRTY_DAYS / 2, data_loss=True)
    assert result.total_credit_amount == Decimal("65000.00")
    assert result.capped is False


def test_credit_is_capped_at_one_month_fee() -> None:  # A 5.9 / B 5.5, AMB-13
    generous = SlaConfig(data_loss_credit_percent=Decimal("95"))
    result = credit_for(THIRTY_DAYS, data_loss=True, config=generous)
    assert result.credit_amount + result.data_loss_credit_amount == Decimal("110000.00")
    assert result.total_credit_amount == Decimal("100000.00")
    assert result.capped is True


def test_cap_is_configurable() -> None:
    result = credit_for(
        THIRTY_DAYS, data_loss=True, config=SlaConfig(credit_cap_percent_of_fee=Decimal("20"))
    )
    assert result.total_credit_amount == Decimal("20000.00")


def test_dedicated_outside_provider_dc_gets_no_credit() -> None:  # A 5.4
    result = credit_for(THIRTY_DAYS, data_loss=True, sla=False)
    assert result.tier is Tier.SEVERE  # availability is still measured and shown
    assert result.total_credit_amount == Decimal("0.00")
    assert result.data_loss_credit_amount == Decimal("0.00")


def test_no_active_time_means_no_availability_and_no_credit() -> None:
    result = credit_for(timedelta(), active=timedelta(), data_loss=True)
    assert result.availability is None
    assert result.tier is None
    assert result.total_credit_amount == Decimal("0.00")


def test_counted_downtime_longer_than_active_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds active time"):
        availability_percent(timedelta(minutes=1), timedelta(minutes=2))


def test_report_applies_the_tier_to_the_month_fee() -> None:  # A 5.8, end to end
    result = report(
        THIRTY_DAY_MONTH,
        [service(fee=Decimal("250000.00"))],
        [outage(1, almaty(2026, 4, 10, 9), timedelta(hours=10))],  # 600 min: 98.6111 %
    )
    line = result.services[0]
    assert line.credit.tier is Tier.MAJOR
    assert line.credit.credit_amount == Decimal("25000.00")


def test_outside_dc_dedicated_service_gets_no_credit_in_report() -> None:  # A 5.4
    result = report(
        THIRTY_DAY_MONTH,
        [service(in_provider_dc=False)],
        [outage(1, almaty(2026, 4, 10, 9), timedelta(days=5), data_loss=True)],
    )
    line = result.services[0]
    assert line.downtime.counted == timedelta(days=5)
    assert line.credit.sla_applies is False
    assert line.credit.total_credit_amount == Decimal("0.00")


def test_large_outage_with_data_loss_in_report_never_exceeds_fee() -> None:  # A 5.9 / B 5.5
    generous = SlaConfig(data_loss_credit_percent=Decimal("90"))
    result = report(
        THIRTY_DAY_MONTH,
        [service(fee=Decimal("1500.00"))],
        [outage(1, almaty(2026, 4, 3), timedelta(days=10), data_loss=True)],
        config=generous,
    )
    credit = result.services[0].credit
    assert (credit.credit_amount, credit.data_loss_credit_amount) == (
        Decimal("225.00"),
        Decimal("1350.00"),
    )
    assert credit.total_credit_amount == Decimal("1500.00")


@pytest.mark.parametrize(
    ("layer", "exclusion", "credited"),
    [
        (Layer.HARDWARE, None, True),  # disk array failure destroyed the data
        (Layer.DATA, None, False),  # A 4.1: the data layer is the customer's
        (Layer.OS, None, False),  # A 4.1: a dedicated server's OS is the customer's
        (Layer.HARDWARE, Exclusion.FORCE_MAJEURE, False),  # A 5.11: not the provider's fault
        (Layer.HARDWARE, Exclusion.CLIENT_CAUSED, False),  # A 5.11
        (Layer.HARDWARE, Exclusion.MAINTENANCE, True),  # A 5.10 exempts unavailability only
    ],
)
def test_data_loss_credit_needs_provider_fault(  # A 5.14 / B 5.10
    layer: Layer, exclusion: Exclusion | None, credited: bool
) -> None:
    result = report(
        THIRTY_DAY_MONTH,
        [service()],
        [
            outage(
                1,
                almaty(2026, 4, 10),
                minutes(5),
                layer=layer,
                exclusion=exclusion,
                data_loss=True,
            )
        ],
    )
    expected = Decimal("50000.00") if credited else Decimal("0.00")
    assert result.services[0].credit.data_loss_credit_amount == expected


def test_data_loss_credit_belongs_to_the_month_the_loss_occurred() -> None:  # A 5.14
    loss_in_march = outage(1, almaty(2026, 3, 31, 23), timedelta(hours=2), data_loss=True)
    april = report(THIRTY_DAY_MONTH, [service()], [loss_in_march])
    march = report("2026-03", [service()], [loss_in_march])
    assert april.services[0].credit.data_loss_credit_amount == Decimal("0.00")
    assert march.services[0].credit.data_loss_credit_amount == Decimal("50000.00")


def test_unconfirmed_data_loss_report_earns_nothing_yet() -> None:  # A 5.14: provider's fault
    claim = outage(1, almaty(2026, 4, 10), None, data_loss=True, status="reported")
    result = report(THIRTY_DAY_MONTH, [service()], [claim])
    assert result.services[0].credit.data_loss_credit_amount == Decimal("0.00")


def test_two_data_losses_in_one_month_earn_one_data_loss_credit() -> None:  # A 5.14
    losses = [
        outage(1, almaty(2026, 4, 3), minutes(5), data_loss=True),
        outage(2, almaty(2026, 4, 20), minutes(5), data_loss=True),
    ]
    result = report(THIRTY_DAY_MONTH, [service()], losses)
    assert result.services[0].credit.data_loss_credit_amount == Decimal("50000.00")
