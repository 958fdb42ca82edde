"""`/down`: the client reports that a service is down (a new ticket right after /new)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, Update

from bot.desk import Desk
from bot.handlers.client import private_router
from bot.handlers.client.tickets import NewTicket
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


async def down_as_new_ticket(
    message: Message,
    event_update: Update,
    state: FSMContext,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    """/new promised a new ticket: the /down that follows opens it."""
    await state.clear()
    incoming = incoming_message(message, event_update.update_id)
    outcome = await report_down(tickets, incidents, incoming, force_new=True)
    await tell(desk, outcome, message)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_outage")
    router.message.register(
        down_as_new_ticket, Command("down"), StateFilter(NewTicket.waiting_for_text)
    )
    router.message.register(down, Command("down"))
    return router
