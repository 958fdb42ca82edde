"""A client's first steps: /start (with an invitation, it links the account), /help, /lang."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import acknowledge, tell
from bot.settings import BotSettings
from bot.texts import help_text
from crm.contacts import ContactService
from crm.usecases.accounts import choose_language, link_account


async def start_with_token(
    message: Message, command: CommandObject, contacts: ContactService, desk: Desk
) -> None:
    assert message.from_user is not None
    outcome = await link_account(contacts, telegram_user(message.from_user), command.args or "")
    await tell(desk, outcome, message)


async def start(message: Message, desk: Desk) -> None:
    assert message.from_user is not None
    greeting = _("Hello, {name}! This is the support desk.").format(
        name=message.from_user.first_name
    )
    desk.answer(message, greeting + "\n\n" + help_text())


async def show_help(message: Message, desk: Desk) -> None:
    desk.answer(message, help_text())


async def show_languages(message: Message, desk: Desk) -> None:
    desk.answer(message, _("Choose your language:"), reply_markup=keyboards.languages())


async def language_chosen(
    query: CallbackQuery,
    callback_data: keyboards.LanguageChoice,
    contacts: ContactService,
    desk: Desk,
) -> None:
    await acknowledge(query)
    outcome = await choose_language(contacts, telegram_user(query.from_user), callback_data.locale)
    await tell(desk, outcome, query)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_start")
    router.message.register(start_with_token, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(show_help, Command("help"))
    router.message.register(show_languages, Command("lang"))
    router.callback_query.register(language_chosen, keyboards.LanguageChoice.filter())
    return router
