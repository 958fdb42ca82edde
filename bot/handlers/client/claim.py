"""`/claim [YYYY-MM]`: the client asks for a month's SLA credit (A 5.13 / B 5.9).

Without a month the bot asks which, with a button per month that had an outage; a month
claimed already is refused with the date of its claim; the managers hear of each claim.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import money_buttons
from bot.commands import ParseError, parse_month_argument
from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import tell
from bot.settings import BotSettings
from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.usecases.accounts import claim_credit, claim_months


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
    client = telegram_user(message.from_user)
    if parsed is None:
        outcome = await claim_months(contacts, claims, client, desk.zone)
    else:
        outcome = await claim_credit(contacts, claims, client, parsed, desk.zone, message.date)
    await tell(desk, outcome, message)


async def month_chosen(
    query: CallbackQuery,
    callback_data: money_buttons.ClaimMonth,
    contacts: ContactService,
    claims: ClaimService,
    desk: Desk,
) -> None:
    client = telegram_user(query.from_user)
    outcome = await claim_credit(contacts, claims, client, callback_data.month, desk.zone)
    await query.answer()
    await tell(desk, outcome, query)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_claim")
    router.message.register(claim, Command("claim"))
    router.callback_query.register(month_chosen, money_buttons.ClaimMonth.filter())
    return router
