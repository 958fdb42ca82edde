"""Availability, credit tier and credit amounts of one service in one month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from sla.config import SlaConfig
from sla.downtime import reported_start
from sla.model import Exclusion, IncidentRecord, IncidentStatus, ServiceRecord
from sla.responsibility import provider_is_responsible
from sla.responsibility import sla_applies as covered_by_sla

CENT = Decimal("0.01")


class Tier(StrEnum):
    """The rows of the compensation table (A 5.8 / B 5.4), lower bounds inclusive (AMB-2)."""

    MET = "met"  # >= 99.9 %
    MINOR = "minor"  # [99.0, 99.9): the dash row (AMB-1)
    MAJOR = "major"  # [95.0, 99.0)
    SEVERE = "severe"  # < 95.0


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def availability_percent(active: timedelta, counted: timedelta) -> Fraction | None:
    """100 × (active − counted) / active, exact; None when the service had no active time,
    because a percentage of nothing is undefined (and earns no credit)."""
    if counted < timedelta():
        raise ValueError("counted downtime must not be negative")
    if counted > active:
        raise ValueError(f"counted downtime {counted} exceeds active time {active}")
    if active == timedelta():
        return None
    microsecond = timedelta(microseconds=1)
    return Fraction(100 * ((active - counted) // microsecond), active // microsecond)


def tier_for(availability: Fraction, config: SlaConfig) -> Tier:
    """Decided on the exact figure: 99.89999 % is below 99.9 % even if it prints as 99.9."""
    if availability >= _exact(config.availability_target_percent):
        return Tier.MET
    if availability >= _exact(config.band_lower_bound_percent):
        return Tier.MINOR
    if availability >= _exact(config.major_lower_bound_percent):
        return Tier.MAJOR
    return Tier.SEVERE


@lru_cache(maxsize=64)
def _exact(percent: Decimal) -> Fraction:
    """A configured bound as an exact fraction, made once (not once per service)."""
    return Fraction(percent)


def tier_credit_percent(tier: Tier, config: SlaConfig) -> Decimal:
    return {
        Tier.MET: Decimal("0"),
        Tier.MINOR: config.band_credit_percent,
        Tier.MAJOR: config.major_credit_percent,
        Tier.SEVERE: config.severe_credit_percent,
    }[tier]


def is_provider_data_loss(incident: IncidentRecord, service: ServiceRecord) -> bool:
    """A 5.14 / B 5.10: data lost or damaged in a failure caused by the provider's fault.

    The confirmed failed layer must be the provider's (a "data" layer failure is the
    customer's own, A 4.1 / B 4.1). Force majeure and client-caused incidents are by
    definition not the provider's fault (A 5.11 / B 5.7); planned works only exempt the
    unavailability (A 5.10 / B 5.6), not data the provider destroyed during them.
    """
    return (
        incident.data_loss
        and incident.service_id == service.service_id
        and incident.status is IncidentStatus.CONFIRMED
        and provider_is_responsible(service.service_type, incident.layer)
        and incident.exclusion not in (Exclusion.FORCE_MAJEURE, Exclusion.CLIENT_CAUSED)
    )


def during_trial(incident: IncidentRecord, service: ServiceRecord) -> bool:
    """The incident began before the service was paid for: a free trial earns nothing (B 3)."""
    start = reported_start(incident)
    return start is not None and start < service.paid_from


def data_loss_credit_applies(incident: IncidentRecord, service: ServiceRecord) -> bool:
    """Whether a data loss of this incident earns the A 5.14 / B 5.10 credit: the
    provider's fault, on a service the SLA covers at all (A 5.4), once it is paid (B 3)."""
    return (
        is_provider_data_loss(incident, service)
        and covered_by_sla(service)
        and not during_trial(incident, service)
    )


def credit_base(
    monthly_fee: Decimal, paid_active: timedelta, month: timedelta, config: SlaConfig
) -> Decimal:
    """What the credit percentages and the cap apply to (A 5.8, 5.9, 5.14 / B 5.4, 5.5, 5.10).

    "pro_rata" (the default reading): the cost of the part of the month the service was
    active and paid, fee × paid active minutes / minutes of the calendar month, in cents
    (rounded half up). A free trial (B 3) is not paid, so its minutes count for nothing.
    "full_fee": the whole monthly fee once the service was paid for any of the month.
    """
    if paid_active <= timedelta():
        return money(Decimal("0"))
    if config.credit_base == "full_fee":
        return money(monthly_fee)
    microsecond = timedelta(microseconds=1)
    share = Decimal(min(paid_active, month) // microsecond) / Decimal(month // microsecond)
    return money(monthly_fee * share)


@dataclass(frozen=True)
class CreditResult:
    availability: Fraction | None
    tier: Tier | None
    sla_applies: bool
    credit_percent: Decimal
    # The amount the percentages and the cap apply to (see credit_base).
    base: Decimal
    credit_amount: Decimal
    data_loss_credit_amount: Decimal
    total_credit_amount: Decimal
    capped: bool


def compute_credit(
    *,
    monthly_fee: Decimal,
    active: timedelta,
    counted: timedelta,
    provider_data_loss: bool,
    sla_applies: bool,
    config: SlaConfig,
    base: Decimal | None = None,
) -> CreditResult:
    """Credit for one service and month.

    `base`: the month's cost the percentages apply to (`credit_base`); the whole monthly
    fee when not given.

    * tier credit: A 5.8 / B 5.4, as a percentage of the base;
    * data loss through the provider's fault: A 5.14 / B 5.10, once per month, however many
      losses (the clause measures it against the period's cost, not per event);
    * cap: A 5.9 / B 5.5, "compensation under the SLA" never exceeds one month's payment.
      AMB-13: the cap covers the data-loss credit too, because that clause sits in the same
      SLA section and the literal wording caps all compensation under it; the cap is the
      base too: what was paid for the month is the fee for its paid part;
    * no SLA (dedicated outside the provider's data centre, A 5.4) or no active time: the
      availability is still shown where defined, but every credit is zero.
    """
    availability = availability_percent(active, counted)
    tier = tier_for(availability, config) if availability is not None else None
    zero = money(Decimal("0"))
    fee = money(monthly_fee if base is None else base)
    if not sla_applies or tier is None:
        return CreditResult(
            availability, tier, sla_applies, Decimal("0"), fee, zero, zero, zero, False
        )
    credit_percent = tier_credit_percent(tier, config)
    credit_amount = money(fee * credit_percent / 100)
    data_loss_amount = (
        money(fee * config.data_loss_credit_percent / 100) if provider_data_loss else zero
    )
    cap = money(fee * config.credit_cap_percent_of_fee / 100)
    uncapped = credit_amount + data_loss_amount
    total = min(uncapped, cap)
    return CreditResult(
        availability=availability,
        tier=tier,
        sla_applies=sla_applies,
        credit_percent=credit_percent,
        base=fee,
        credit_amount=credit_amount,
        data_loss_credit_amount=data_loss_amount,
        total_credit_amount=total,
        capped=uncapped > cap,
    )
