"""Client texts in Kazakh, Russian and English through aiogram's gettext i18n."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

LOCALES = ("kk", "ru", "en")
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
LOCALES_DIR = Path(__file__).parent / "locales"


def make_i18n(default_locale: str = "en") -> I18n:
    return I18n(path=LOCALES_DIR, default_locale=default_locale, domain="messages")


def pick_locale(chosen: str | None, telegram_language: str | None, fallback: str = "en") -> str:
    """The client's own choice (/lang) wins over the Telegram app's language."""
    if chosen in LOCALES:
        return chosen
    short = (telegram_language or "").split("-")[0].lower()
    return short if short in LOCALES else fallback


class DeskLocaleMiddleware(I18nMiddleware):
    """Clients read their own language; the engineers' group reads one fixed language."""

    def __init__(self, i18n: I18n, support_chat_id: int, engineer_locale: str) -> None:
        super().__init__(i18n)
        self.support_chat_id = support_chat_id
        self.engineer_locale = engineer_locale

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        chat = data.get("event_chat")
        if chat is not None and chat.id == self.support_chat_id:
            return self.engineer_locale
        user: User | None = data.get("event_from_user")
        if user is None:
            return self.i18n.default_locale
        contacts = data.get("contacts")
        contact = await contacts.find(user.id) if contacts is not None else None
        return pick_locale(
            contact.chosen_language if contact else None,
            user.language_code,
            self.i18n.default_locale,
        )
