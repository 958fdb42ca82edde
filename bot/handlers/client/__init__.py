"""Private chats: clients open tickets, write to them, classify, close and rate them."""

from aiogram import F, Router


def private_router(name: str) -> Router:
    router = Router(name=name)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    return router
