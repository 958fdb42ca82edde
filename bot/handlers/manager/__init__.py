"""Managers in a private chat: planned maintenance, emergency mode, SLA reports, the board."""

from aiogram import F, Router

from bot.settings import BotSettings

MANAGER_COMMANDS = ("maintenance", "emergency", "report", "board")


def manager_router(name: str, settings: BotSettings) -> Router:
    router = Router(name=name)
    router.message.filter(F.chat.type == "private", F.from_user.id.in_(settings.manager_ids))
    return router
