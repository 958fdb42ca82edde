"""Managers' commands from anybody else are refused (before the clients' unknown-command)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.manager import MANAGER_COMMANDS
from bot.settings import BotSettings


async def refuse(message: Message, desk: Desk) -> None:
    desk.answer(message, _("This command is for managers only."))


def get_router(settings: BotSettings) -> Router:
    router = Router(name="manager_access")
    router.message.filter(F.chat.type == "private", F.from_user.id.not_in(settings.manager_ids))
    router.message.register(refuse, Command(*MANAGER_COMMANDS))
    return router
