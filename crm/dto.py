"""Plain data the bot hands to the CRM, so `crm/` never imports aiogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TelegramUser:
    id: int
    full_name: str
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A Telegram message as evidence: ids, what it carried and Telegram's own time."""

    chat_id: int
    message_id: int
    sender: TelegramUser
    content_type: str
    telegram_date: datetime
    text: str | None = None
    file_ids: list[str] = field(default_factory=list)
    update_id: int | None = None
    # The album it belongs to (Telegram's media_group_id), if any.
    media_group_id: str | None = None
