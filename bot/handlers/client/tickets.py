"""A client's own tickets: /tickets lists them, /new starts one, /close closes the current."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk, category_label
from bot.handlers.client import private_router
from bot.incoming import telegram_user
from bot.notices import tell
from bot.settings import BotSettings
from bot.texts import status_label
from crm.tickets import TicketService
from crm.usecases.client_ticket import close_ticket

ENGINEER_COMMANDS = (
    "take", "resolve", "reopen", "note", "phone", "email", "outage", "confirm", "reject",
    "restored", "exclude", "restoration", "dataloss",
)  # fmt: skip


class NewTicket(StatesGroup):
    waiting_for_text = State()


async def list_tickets(message: Message, tickets: TicketService, desk: Desk, i18n: I18n) -> None:
    assert message.from_user is not None
    mine = await tickets.client_tickets(telegram_user(message.from_user))
    if not mine:
        desk.answer(message, _("You have no tickets yet. Just write to open one."))
        return
    lines = [_("Your tickets:")]
    for ticket in mine:
        label = category_label(i18n, ticket.category, i18n.current_locale)
        status = status_label(ticket.status)
        lines.append(f"#{ticket.id} · {status} · {label} · {desk.local(ticket.opened_at)}")
    desk.answer(message, "\n".join(lines))


async def new_ticket(message: Message, state: FSMContext, desk: Desk) -> None:
    await state.set_state(NewTicket.waiting_for_text)
    desk.answer(message, _("Describe the new request in your next message: it opens a new ticket."))


async def close_current(message: Message, tickets: TicketService, desk: Desk) -> None:
    assert message.from_user is not None
    outcome = await close_ticket(tickets, telegram_user(message.from_user), message.date)
    await tell(desk, outcome, message)


async def engineer_command_refused(message: Message, desk: Desk) -> None:
    desk.answer(
        message,
        _("This command is for support engineers in the support group. {help}").format(
            help=_("Send /help to see what you can do here.")
        ),
    )


def get_router(settings: BotSettings) -> Router:
    router = private_router("client_tickets")
    router.message.register(list_tickets, Command("tickets"))
    router.message.register(new_ticket, Command("new"))
    router.message.register(close_current, Command("close"))
    router.message.register(engineer_command_refused, Command(*ENGINEER_COMMANDS))
    return router
