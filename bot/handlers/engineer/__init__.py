"""The engineers' supergroup: a forum topic per ticket, replies copied to the client."""

from aiogram import F, Router
from aiogram.types import Message

from bot.desk import Desk
from bot.settings import BotSettings


def support_router(name: str, settings: BotSettings) -> Router:
    router = Router(name=name)
    router.message.filter(F.chat.id == settings.support_chat_id)
    return router


def replies_to_the_desk(message: Message, bot_id: int) -> bool:
    reply = message.reply_to_message
    return reply is not None and reply.from_user is not None and reply.from_user.id == bot_id


def warn_unplaced(desk: Desk, message: Message) -> None:
    """A reply to the desk's own post it cannot place (a card or copy whose sending is not
    yet recorded): meant for a client, so it must not vanish as the chat's own talk."""
    desk.answer(
        message,
        desk.engineer_text(
            "⚠️ I cannot tell which ticket this answers, so no client has received it. "
            "Reply to the ticket's card again in a few seconds, or write in its topic."
        ),
    )
