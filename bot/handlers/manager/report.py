"""`/report [YYYY-MM]` (summary, spreadsheet, chart) and the managers' `/board`."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import ParseError, parse_month_argument
from bot.desk import Desk
from bot.handlers.manager import manager_router
from bot.reports import request_report
from bot.settings import BotSettings
from bot.timers import board_text
from crm.alerts import SlaClockScanner
from sla import previous_month


async def report(message: Message, command: CommandObject, desk: Desk) -> None:
    parsed = parse_month_argument(command.args)
    if isinstance(parsed, ParseError):
        text = _("«{value}» is not a month. Write it as: /report [YYYY-MM]")
        desk.answer(message, text.format(value=parsed.value))
        return
    month = parsed or previous_month(datetime.now(UTC), desk.settings.zone)
    # Only the request is written here: the report is built outside this transaction.
    request_report(desk.outbox, message.chat.id, month, locale=desk.i18n.current_locale)


async def board(message: Message, session: AsyncSession, desk: Desk) -> None:
    scanner = SlaClockScanner(session, desk.settings.sla_config())
    desk.answer(message, board_text(await scanner.board(), desk, datetime.now(UTC)))


def get_router(settings: BotSettings) -> Router:
    router = manager_router("manager_report", settings)
    router.message.register(report, Command("report"))
    router.message.register(board, Command("board"))
    return router
