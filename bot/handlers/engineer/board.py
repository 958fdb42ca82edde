"""`/board` (open tickets by time left) and `/help` in the support group."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.middlewares import wants_ticket
from bot.settings import BotSettings
from bot.texts import engineer_general_help, engineer_room_help, engineer_topic_help
from bot.timers import board_text
from crm.alerts import SlaClockScanner
from crm.incidents import IncidentService
from crm.models import Ticket


async def show_help(
    message: Message, ticket: Ticket | None, incidents: IncidentService, desk: Desk
) -> None:
    """What works where it was asked: a ticket's topic, an outage's room, the general topic."""
    if ticket is not None:
        desk.answer(message, engineer_topic_help())
        return
    thread = message.message_thread_id if message.is_topic_message else None
    room = await incidents.for_room(message.chat.id, thread) if thread is not None else None
    desk.answer(message, engineer_room_help() if room is not None else engineer_general_help())


async def board(message: Message, session: AsyncSession, desk: Desk) -> None:
    scanner = SlaClockScanner(session, desk.settings.sla_config())
    desk.answer(message, board_text(await scanner.board(), desk, datetime.now(UTC)))


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_board", settings)
    router.message.register(show_help, Command("help"), flags=wants_ticket("optional"))
    router.message.register(board, Command("board"))
    return router
