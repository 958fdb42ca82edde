"""Inline buttons and their callback data."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.desk import category_label
from bot.i18n import LANGUAGE_NAMES
from crm.models import Category, Service


class CategoryChoice(CallbackData, prefix="cat"):
    ticket_id: int
    category: Category


class ServiceChoice(CallbackData, prefix="svc"):
    ticket_id: int
    service_id: int


class RatingChoice(CallbackData, prefix="rate"):
    ticket_id: int
    stars: int


class LanguageChoice(CallbackData, prefix="lang"):
    locale: str


def categories(ticket_id: int, i18n: I18n) -> InlineKeyboardMarkup:
    # Built as it is sent, two to a row: every ticket's opening asks for it, and the
    # builder's deep copies of each button cost more than the rest of the keyboard.
    buttons = [
        InlineKeyboardButton(
            text=category_label(i18n, category, i18n.current_locale),
            callback_data=CategoryChoice(ticket_id=ticket_id, category=category).pack(),
        )
        for category in Category
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


def services(ticket_id: int, choices: Sequence[Service]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for service in choices:
        builder.button(
            text=f"{service.name} ({service.id})",
            callback_data=ServiceChoice(ticket_id=ticket_id, service_id=service.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def rating(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for stars in range(1, 6):
        builder.button(
            text="⭐" * stars, callback_data=RatingChoice(ticket_id=ticket_id, stars=stars)
        )
    builder.adjust(5)
    return builder.as_markup()


def languages() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for locale, name in LANGUAGE_NAMES.items():
        builder.button(text=name, callback_data=LanguageChoice(locale=locale))
    return builder.as_markup()
