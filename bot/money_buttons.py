"""Buttons of the money commands: the month of a credit claim, a manager's trial decision."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder


class ClaimMonth(CallbackData, prefix="claim"):
    month: str


class TrialDecision(CallbackData, prefix="trial"):
    request_id: int
    approve: bool


def claim_months(months: Sequence[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for month in months:
        builder.button(text=month, callback_data=ClaimMonth(month=month))
    builder.adjust(3)
    return builder.as_markup()


def trial_decision(request_id: int, approve: str, refuse: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=approve, callback_data=TrialDecision(request_id=request_id, approve=True))
    builder.button(text=refuse, callback_data=TrialDecision(request_id=request_id, approve=False))
    builder.adjust(2)
    return builder.as_markup()
