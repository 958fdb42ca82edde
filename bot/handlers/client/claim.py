"""`/claim [YYYY-MM]`: the client asks for the month's SLA credit (A 5.13 / B 5.9)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import ParseError, parse_month_argument
from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import tell
from bot.settings import BotSettings
from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.usecases.accounts import claim_credit
from sla import previous_month


async def claim(
    message: Message,
    command: CommandObject,
    contacts: ContactService,
    claims: ClaimService,
    desk: Desk,
) -> None:
    assert message.from_user is not None
    parsed = parse_month_argument(command.args)
    if isinstance(parsed, ParseError):
        text = _("«{value}» is not a month. Write it as: /claim [YYYY-MM]")
        desk.answer(message, text.format(value=parsed.value))
        return
    month = parsed or previous_month(message.date, desk.zone)
    outcome = await claim_credit(contacts, claims, telegram_user(message.from_user), month)
    await tell(desk, outcome, message)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_claim")
    router.message.register(claim, Command("claim"))
    return router
