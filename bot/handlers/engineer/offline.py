"""`/phone` and `/email` in the general topic: a request taken outside Telegram."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.commands import ParseError, parse_offline_request, stated_moment
from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.incoming import telegram_user
from bot.notices import tell
from bot.settings import BotSettings
from bot.texts import explain_offline, offline_usage
from crm.models import Channel
from crm.tickets import TicketService
from crm.usecases.offline_request import OfflineRequest, log_offline_request


async def offline_request(
    message: Message, command: CommandObject, tickets: TicketService, desk: Desk
) -> None:
    if message.from_user is None:
        return
    parsed = parse_offline_request(command.args)
    if isinstance(parsed, ParseError):
        desk.answer(message, explain_offline(parsed) + "\n" + offline_usage(command.command))
        return
    stated_at = (
        stated_moment(parsed.stated_time, message.date, desk.zone)
        if parsed.stated_time
        else message.date
    )
    request = OfflineRequest(
        channel=Channel(command.command),
        customer_id=parsed.customer_id,
        stated_at=stated_at,
        text=parsed.text,
        engineer=telegram_user(message.from_user),
        logged_at=message.date,
    )
    await tell(desk, await log_offline_request(tickets, request), message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_offline", settings)
    router.message.register(offline_request, Command("phone", "email"))
    return router
