"""Settings shared by the CRM command line and the bot (environment and `.env`)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sla.config import SlaConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/support.db"
TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# The terms' figures live in SlaConfig alone; a setting only says when they are overridden.
_TERMS = SlaConfig()
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class CrmSettings(BaseSettings):
    # An empty line in .env means "not set", as a newcomer copying .env.example expects.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = _TERMS.timezone
    # The terms' targets (A 5.2 / B 5.2); the emergency one is ours: the terms give no figure.
    first_response_minutes: float = Field(default=_TERMS.telegram_first_response / MINUTE, gt=0)
    email_response_hours: float = Field(default=_TERMS.email_first_response / HOUR, gt=0)
    emergency_response_minutes: float = Field(
        default=_TERMS.emergency_first_response / MINUTE, gt=0
    )
    # The band below the guarantee is a dash in the terms (AMB-1): 0 % unless decided.
    band_credit_percent: Decimal = Field(default=_TERMS.band_credit_percent, ge=0, le=100)
    # A 5.8 / 5.9 / 5.14 (B 5.4 / 5.5 / 5.10): "pro_rata" (the terms' reading) or "full_fee".
    credit_base: Literal["pro_rata", "full_fee"] = "pro_rata"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sla_config(self) -> SlaConfig:
        return SlaConfig(
            timezone=self.timezone,
            band_credit_percent=self.band_credit_percent,
            credit_base=self.credit_base,
            telegram_first_response=timedelta(minutes=self.first_response_minutes),
            email_first_response=timedelta(hours=self.email_response_hours),
            emergency_first_response=timedelta(minutes=self.emergency_response_minutes),
        )


class TelegramSettings(CrmSettings):
    """What it takes to talk to the Bot API; the CLI needs only this much (the bot's own
    settings extend it)."""

    bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    bot_username: str | None = None

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_SHAPE.match(value.get_secret_value()):
            raise ValueError("expected the form 123456:ABC-DEF from @BotFather")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of a Bot API server")
        return value.rstrip("/")


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad setting, as an operator needs it at start-up."""
    first = error.errors()[0]
    if not first["loc"]:
        return f"configuration error: {str(first['msg']).removeprefix('Value error, ')}"
    name = str(first["loc"][0]).upper()
    if first["type"] == "missing":
        return f"configuration error: {name} is not set (put it in the environment or .env)"
    reason = str(first["msg"]).removeprefix("Value error, ")
    return f"configuration error: {name} is malformed: {reason}"
