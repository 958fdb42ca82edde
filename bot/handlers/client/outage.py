"""`/down`: the client reports that a service is down."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message, Update

from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import incoming_message
from bot.notices import tell
from bot.settings import BotSettings
from crm.incidents import IncidentService
from crm.tickets import TicketService
from crm.usecases.outage_reported import report_down


async def down(
    message: Message,
    event_update: Update,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await report_down(tickets, incidents, incoming), message)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_outage")
    router.message.register(down, Command("down"))
    return router
