"""A manager's `/help`: the managers' commands first, then the clients' they can also use."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.manager import manager_router
from bot.settings import BotSettings
from bot.texts import MAINTENANCE_USAGE, help_text


def manager_help(zone: str) -> str:
    return (
        _(
            "Manager commands:\n"
            "/report [YYYY-MM] – the SLA report of a month (the previous one by default)\n"
            "/maintenance {usage} – plan maintenance, times in {zone}; the clients are told\n"
            "/maintenance list – planned maintenance\n"
            "/maintenance cancel ID – cancel it and tell the clients\n"
            "/emergency on [NOTE] or /emergency off – emergency mode\n"
            "/board – open tickets by time left\n"
            "Clients' /trial requests arrive here with Approve and Refuse buttons; their "
            "/claim requests are told here too."
        ).format(usage=MAINTENANCE_USAGE.removeprefix("/maintenance "), zone=zone)
        + "\n\n"
        + _("As a client you can also use:")
        + "\n"
        + help_text()
    )


async def show_help(message: Message, desk: Desk) -> None:
    desk.answer(message, manager_help(desk.settings.timezone))


def get_router(settings: BotSettings) -> Router:
    router = manager_router("manager_help", settings)
    router.message.register(show_help, Command("help"))
    return router
