"""`/trial`: a client asks for a free object storage trial (terms B 3)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import tell
from bot.settings import BotSettings
from crm.contacts import ContactService
from crm.trials import TrialService
from crm.usecases.trials import request_trial


async def trial(
    message: Message, session: AsyncSession, contacts: ContactService, desk: Desk
) -> None:
    assert message.from_user is not None
    client = telegram_user(message.from_user)
    outcome = await request_trial(contacts, TrialService(session), client)
    await tell(desk, outcome, message)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_trial")
    router.message.register(trial, Command("trial"))
    return router
