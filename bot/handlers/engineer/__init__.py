"""The engineers' supergroup: a forum topic per ticket, replies copied to the client."""

from aiogram import F, Router

from bot.settings import BotSettings


def support_router(name: str, settings: BotSettings) -> Router:
    router = Router(name=name)
    router.message.filter(F.chat.id == settings.support_chat_id)
    return router
