"""Settings shared by the CRM command line and the bot (environment and `.env`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/support.db"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


class CrmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Asia/Almaty"

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


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad setting, as an operator needs it at start-up."""
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    if first["type"] == "missing":
        return f"configuration error: {name} is not set (put it in the environment or .env)"
    reason = str(first["msg"]).removeprefix("Value error, ")
    return f"configuration error: {name} is malformed: {reason}"


def load_crm_settings() -> CrmSettings:
    try:
        return CrmSettings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from error
