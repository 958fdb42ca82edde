"""`/emergency on [NOTE]` and `/emergency off`."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.manager import manager_router
from bot.notices import tell
from bot.notices.engineers import tell_engineers
from bot.settings import BotSettings
from crm.emergencies import EmergencyService
from crm.usecases.emergency import declare_emergency, end_emergency


async def emergency(
    message: Message, command: CommandObject, emergencies: EmergencyService, desk: Desk
) -> None:
    assert message.from_user is not None
    switch, _sep, note = (command.args or "").strip().partition(" ")
    manager, config = message.from_user.id, desk.settings.sla_config()
    if switch == "on":
        outcome = await declare_emergency(
            emergencies, note.strip() or None, manager, message.date, config
        )
    elif switch == "off":
        outcome = await end_emergency(emergencies, manager, message.date, config)
    else:
        desk.answer(message, _("Write it as: /emergency on [NOTE] or /emergency off"))
        return
    await tell(desk, outcome, message)
    tell_engineers(desk, outcome)


def get_router(settings: BotSettings) -> Router:
    router = manager_router("manager_emergency", settings)
    router.message.register(emergency, Command("emergency"))
    return router
