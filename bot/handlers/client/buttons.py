"""The buttons under the bot's messages: the ticket's category, the service down, a rating.

Buttons carry a ticket number; a client may only act on tickets of their own. Each acts
once, on the state it was shown for: a press too late or twice is refused as an alert.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _

from bot import keyboards
from bot.desk import Desk
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import acknowledge, tell
from bot.settings import BotSettings
from crm.incidents import IncidentService
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.client_ticket import owned_ticket, rate_ticket
from crm.usecases.outage_reported import choose_category, choose_service


async def own_ticket(query: CallbackQuery, ticket_id: int, tickets: TicketService) -> Ticket | None:
    ticket = await owned_ticket(tickets, telegram_user(query.from_user), ticket_id)
    if ticket is None:
        await query.answer(_("This ticket is not yours."), show_alert=True)
    return ticket


async def category_chosen(
    query: CallbackQuery,
    callback_data: keyboards.CategoryChoice,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    ticket = await own_ticket(query, callback_data.ticket_id, tickets)
    if ticket is None:
        return
    # The button classifies the message that opened the ticket: that is the evidence time.
    outcome = await choose_category(
        tickets,
        incidents,
        ticket,
        callback_data.category,
        telegram_user(query.from_user),
        ticket.opened_at,
    )
    await acknowledge(query, outcome)
    await tell(desk, outcome, query)


async def service_chosen(
    query: CallbackQuery,
    callback_data: keyboards.ServiceChoice,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    ticket = await own_ticket(query, callback_data.ticket_id, tickets)
    if ticket is None:
        return
    client = telegram_user(query.from_user)
    outcome = await choose_service(tickets, incidents, ticket, callback_data.service_id, client)
    await acknowledge(query, outcome)
    await tell(desk, outcome, query)


async def rated(
    query: CallbackQuery,
    callback_data: keyboards.RatingChoice,
    tickets: TicketService,
    desk: Desk,
) -> None:
    ticket = await own_ticket(query, callback_data.ticket_id, tickets)
    if ticket is None:
        return
    client = telegram_user(query.from_user)
    outcome = await rate_ticket(tickets, ticket, client, callback_data.stars)
    await acknowledge(query, outcome)
    await tell(desk, outcome, query)


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_buttons")
    router.callback_query.register(category_chosen, keyboards.CategoryChoice.filter())
    router.callback_query.register(service_chosen, keyboards.ServiceChoice.filter())
    router.callback_query.register(rated, keyboards.RatingChoice.filter())
    return router
