"""The bot's settings (environment and `.env`), on top of the CRM's."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode

from crm.settings import (
    SettingsError,
    TelegramSettings,
    describe_validation_error,
)


class BotSettings(TelegramSettings):
    bot_token: SecretStr
    support_chat_id: int
    manager_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    engineer_language: str = "en"
    monthly_report_hour: int = Field(default=9, ge=0, le=23)
    # Live clocks: scan period, the share of the target left at the warning (3 of 10 min),
    # and who is mentioned in breach alerts (comma-separated @usernames).
    timer_scan_seconds: float = Field(default=15, gt=0)
    # Webhook mode (polling when WEBHOOK_URL is unset) and the HTTP endpoints.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"
    http_host: str = "127.0.0.1"
    # /healthz and /metrics are served in polling mode too; 0 turns the HTTP server off
    # there (two desks on one machine, tests), and is refused with a webhook or monitoring.
    http_port: int = Field(default=8080, ge=0, le=65535)
    # /healthz fails when a row that could be sent now has waited longer than this.
    health_outbox_max_age_seconds: float = Field(default=300, gt=0)
    monitoring_token: SecretStr | None = None
    monitoring_service_label: str = "service_id"
    redis_url: str | None = None
    warn_when_left_share: float = Field(default=0.3, gt=0, lt=1)
    # Mentioned in breach alerts: user ids (`123456` or `123456:Dana`, a real mention that
    # pings them even without a username) or @usernames, comma-separated.
    duty_engineers: Annotated[tuple[str, ...], NoDecode] = ()
    # Other departments a ticket can be handed to (A/B 5.3): `billing:-100…,sales:-100…`.
    departments: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    reopen_window_hours: float = Field(default=72, ge=0)
    send_attempts: int = Field(default=5, ge=1)
    # Telegram's limits: ~30 messages/s overall, 1/s per private chat, 20/min per group.
    outbox_overall_per_second: float = Field(default=30, gt=0)
    outbox_private_per_second: float = Field(default=1, gt=0)
    outbox_group_per_minute: float = Field(default=20, gt=0)
    send_backoff_seconds: float = Field(default=0.5, ge=0)
    polling_timeout_seconds: int = Field(default=30, ge=0)
    shutdown_grace_seconds: float = Field(default=20, ge=0)
    # -- the e-mail channel (all three unset: none) ------------------------------------------
    # IMAP_URL imaps://user:password@host:993/INBOX (imap:// only on a trusted network);
    # SMTP_URL smtps://user:password@host:465 or smtp://... (STARTTLS when offered);
    # MAIL_FROM the support address answers are sent from; the mailbox is read every
    # MAIL_POLL_SECONDS.
    imap_url: SecretStr | None = None
    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    mail_poll_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _mail_settings_together(self) -> BotSettings:
        given = [self.imap_url is not None, self.smtp_url is not None, bool(self.mail_from)]
        if any(given) and not all(given):
            raise ValueError("the e-mail channel needs IMAP_URL, SMTP_URL and MAIL_FROM together")
        for name, url, schemes in (
            ("IMAP_URL", self.imap_url, ("imap://", "imaps://")),
            ("SMTP_URL", self.smtp_url, ("smtp://", "smtps://")),
        ):
            if url is not None and not url.get_secret_value().startswith(schemes):
                raise ValueError(f"{name} must start with {' or '.join(schemes)}")
        if self.mail_from and "@" not in self.mail_from:
            raise ValueError("MAIL_FROM must be an e-mail address, like support@example.com")
        return self

    @property
    def mail_enabled(self) -> bool:
        return self.imap_url is not None

    @field_validator("support_chat_id")
    @classmethod
    def _is_group(cls, value: int) -> int:
        if value >= 0:
            raise ValueError("a supergroup id is negative, like -1001234567890")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("https://") and not value.startswith("http://127.0.0.1"):
            raise ValueError("Telegram delivers webhooks only to https:// URLs")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> BotSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET must be set with WEBHOOK_URL")
        return self

    @model_validator(mode="after")
    def _endpoints_need_a_port(self) -> BotSettings:
        if self.http_port == 0 and (self.webhook_url or self.monitoring_token):
            raise ValueError(
                "HTTP_PORT=0 turns the HTTP server off: WEBHOOK_URL and "
                "MONITORING_TOKEN need a port"
            )
        return self

    @model_validator(mode="after")
    def _departments_are_not_support(self) -> BotSettings:
        for name, chat_id in self.departments.items():
            if chat_id == self.support_chat_id:
                raise ValueError(f"DEPARTMENTS: {name} is the support group itself")
        return self

    @property
    def serves_http(self) -> bool:
        return self.http_port != 0

    @field_validator("duty_engineers", mode="before")
    @classmethod
    def _mentions(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, tuple | list):
            for part in value:
                if not re.fullmatch(r"@[A-Za-z0-9_]{4,32}|\d+(:.+)?", str(part)):
                    raise ValueError(
                        f"{part!r}: expected a user id (123456 or 123456:Name) or an @username"
                    )
        return value

    @field_validator("departments", mode="before")
    @classmethod
    def _departments(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        departments: dict[str, int] = {}
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            match = re.fullmatch(r"([a-z][a-z0-9_-]{0,31})\s*:\s*(-\d+)", part)
            if match is None:
                raise ValueError(
                    f"{part!r}: expected NAME:CHAT_ID, like billing:-1001234567890 "
                    "(a lowercase name, a group's negative id)"
                )
            departments[match.group(1)] = int(match.group(2))
        return departments

    @field_validator("manager_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError("expected comma-separated Telegram user ids, like 111,222")
            return frozenset(int(part) for part in parts)
        return value


def load_bot_settings() -> BotSettings:
    try:
        return BotSettings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from error
