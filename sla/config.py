"""The terms' numbers, as one overridable value object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CREDIT_BASES = ("pro_rata", "full_fee")


@dataclass(frozen=True)
class SlaConfig:
    """Defaults are the values printed in the terms (document A = dedicated, B = storage).

    Availability bands, lower bounds inclusive (AMB-2; exactly 99.9 % meets the guarantee):
    [availability_target, 100] -> 0 %; [band_lower_bound, target) -> band_credit_percent;
    [major_lower_bound, band_lower_bound) -> major_credit_percent; below -> severe.
    """

    # The provider's zone cuts calendar months ("reporting period", AMB-11).
    timezone: str = "Asia/Almaty"
    availability_target_percent: Decimal = Decimal("99.9")  # A 5.6 / B 5.4
    band_lower_bound_percent: Decimal = Decimal("99.0")  # A 5.8 / B 5.4
    # The terms print a dash in this cell (AMB-1): no figure, so 0 % until the owner confirms.
    band_credit_percent: Decimal = Decimal("0")
    major_lower_bound_percent: Decimal = Decimal("95.0")  # A 5.8 / B 5.4
    major_credit_percent: Decimal = Decimal("10")  # [95.0, 99.0)
    severe_credit_percent: Decimal = Decimal("15")  # below 95.0
    data_loss_credit_percent: Decimal = Decimal("50")  # A 5.14 / B 5.10
    # A 5.9 / B 5.5: never more than one month's fee; applied to the total (AMB-13).
    credit_cap_percent_of_fee: Decimal = Decimal("100")
    # A 5.8 "the cost of renting the resources in the reporting period", A 5.14 "the cost
    # of the Services consumed in the reporting period", A 5.9 "the amount paid ... within
    # one month" (B 5.4, 5.10, 5.5 alike): "pro_rata" bases every credit and the cap on the
    # fee for the minutes of the month the service was active and paid (a free trial, B 3,
    # is not paid); "full_fee" on the whole monthly fee whenever the service was paid.
    credit_base: str = "pro_rata"
    # B 3: a trial of object storage lasts 3 calendar days from the first activation.
    trial_days: int = 3
    # B 3: the client is reminded this long before the trial turns into a paid service.
    trial_reminder_before: timedelta = timedelta(hours=24)
    telegram_first_response: timedelta = timedelta(minutes=10)  # A 5.2 / B 5.2
    email_first_response: timedelta = timedelta(hours=24)  # A 5.2 / B 5.2
    # The terms give no phone response time; a call is answered live, so no target.
    phone_first_response: timedelta | None = None
    # A 5.2 / B 5.2 only say the bot target "may be increased" in an emergency.
    emergency_first_response: timedelta = timedelta(minutes=60)
    object_storage_processing: timedelta = timedelta(hours=24)  # B 5.3
    reboot_restoration: timedelta = timedelta(minutes=45)  # A 5.7 row 1
    repair_restoration: timedelta = timedelta(hours=8)  # A 5.7 row 2

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown timezone {self.timezone!r}") from error
        percents = {
            "availability_target_percent": self.availability_target_percent,
            "band_lower_bound_percent": self.band_lower_bound_percent,
            "band_credit_percent": self.band_credit_percent,
            "major_lower_bound_percent": self.major_lower_bound_percent,
            "major_credit_percent": self.major_credit_percent,
            "severe_credit_percent": self.severe_credit_percent,
            "data_loss_credit_percent": self.data_loss_credit_percent,
            "credit_cap_percent_of_fee": self.credit_cap_percent_of_fee,
        }
        for name, value in percents.items():
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative Decimal, got {value!r}")
        if not (
            self.major_lower_bound_percent
            <= self.band_lower_bound_percent
            <= self.availability_target_percent
            <= 100
        ):
            raise ValueError(
                "availability bounds must satisfy major <= band <= target <= 100 percent"
            )
        if self.credit_base not in CREDIT_BASES:
            raise ValueError(f"credit_base must be one of {CREDIT_BASES}, got {self.credit_base!r}")
        if self.trial_days < 1:
            raise ValueError(f"trial_days must be at least 1, got {self.trial_days!r}")
        durations = {
            "telegram_first_response": self.telegram_first_response,
            "email_first_response": self.email_first_response,
            "phone_first_response": self.phone_first_response,
            "emergency_first_response": self.emergency_first_response,
            "object_storage_processing": self.object_storage_processing,
            "reboot_restoration": self.reboot_restoration,
            "repair_restoration": self.repair_restoration,
            "trial_reminder_before": self.trial_reminder_before,
        }
        for name, duration in durations.items():
            if duration is not None and duration <= timedelta():
                raise ValueError(f"{name} must be a positive duration, got {duration!r}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
