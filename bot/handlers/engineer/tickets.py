"""`/take`, `/resolve`, `/reopen`, `/link CUSTOMER_ID` in a ticket's topic."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.incoming import telegram_user
from bot.middlewares import wants_ticket
from bot.notices import tell
from bot.settings import BotSettings
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.ticket_commands import (
    link_customer,
    reopen_ticket,
    resolve_ticket,
    take_ticket,
)


async def take(message: Message, ticket: Ticket, tickets: TicketService, desk: Desk) -> None:
    assert message.from_user is not None
    engineer = telegram_user(message.from_user)
    await tell(desk, await take_ticket(tickets, ticket, engineer, message.date), message)


async def resolve(message: Message, ticket: Ticket, tickets: TicketService, desk: Desk) -> None:
    assert message.from_user is not None
    engineer = telegram_user(message.from_user)
    await tell(desk, await resolve_ticket(tickets, ticket, engineer, message.date), message)


async def reopen(message: Message, ticket: Ticket, tickets: TicketService, desk: Desk) -> None:
    assert message.from_user is not None
    engineer = telegram_user(message.from_user)
    await tell(desk, await reopen_ticket(tickets, ticket, engineer, message.date), message)


async def link(
    message: Message, command: CommandObject, ticket: Ticket, tickets: TicketService, desk: Desk
) -> None:
    """An unknown customer's ticket linked to its customer, and its contact with it."""
    assert message.from_user is not None
    argument = (command.args or "").strip()
    if not argument.isdigit():
        desk.answer(message, _("Write it as: /link CUSTOMER_ID, e.g. /link 12"))
        return
    engineer = telegram_user(message.from_user)
    outcome = await link_customer(tickets, ticket, int(argument), engineer, message.date)
    await tell(desk, outcome, message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_tickets", settings)
    router.message.register(take, Command("take"), flags=wants_ticket("required"))
    router.message.register(resolve, Command("resolve"), flags=wants_ticket("required"))
    router.message.register(reopen, Command("reopen"), flags=wants_ticket("required"))
    router.message.register(link, Command("link"), flags=wants_ticket("required"))
    return router
