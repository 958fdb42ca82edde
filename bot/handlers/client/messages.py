"""Whatever else a client writes: an unknown command is explained; anything else is
recorded in their ticket (a new one right after /new)."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.client import private_router
from bot.handlers.client.tickets import NewTicket
from bot.incoming import edit_time, incoming_message
from bot.notices import tell
from bot.settings import BotSettings
from bot.texts import help_text
from crm.tickets import TicketService
from crm.updates import UpdateLog
from crm.usecases.client_wrote import client_edited, client_wrote
from crm.usecases.clients_wrote_batch import clients_wrote_batch


async def unknown_command(message: Message, desk: Desk) -> None:
    command = (message.text or "").split()[0]
    text = _("Unknown command {command}.").format(command=command)
    desk.answer(message, text + "\n\n" + help_text())


async def first_message_of_new_ticket(
    message: Message,
    event_update: Update,
    state: FSMContext,
    tickets: TicketService,
    desk: Desk,
) -> None:
    await state.clear()
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await client_wrote(tickets, incoming, force_new=True, gather=True), message)


async def client_message(
    message: Message, event_update: Update, tickets: TicketService, desk: Desk
) -> None:
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await client_wrote(tickets, incoming, gather=True), message)


def follow_up(update: Update) -> Message | None:
    """The message of an update the batch path may take (bot/middlewares.py): a plain text
    in a private chat, which no router before this one takes and `client_message` would.
    Anything else about it (a command, media, an album, a topic, a business chat, a
    forward, a bot) goes through the dispatcher as usual."""
    message = update.message
    if message is None or message.text is None or message.text.startswith("/"):
        return None
    user = message.from_user
    if (
        user is None
        or user.is_bot
        or message.chat.type != "private"
        or message.media_group_id is not None
        or message.message_thread_id is not None
        or message.business_connection_id is not None
        or message.forward_origin is not None
        or message.via_bot is not None
    ):
        return None
    return message


async def client_follow_ups(
    messages: Sequence[tuple[Message, int]], tickets: TicketService, desk: Desk
) -> int:
    """`client_message` for a leading run of (message, update id) that only join their
    clients' open tickets, recorded at once; returns how many it took (a prefix)."""
    incoming = [incoming_message(message, update_id) for message, update_id in messages]
    outcomes = await clients_wrote_batch(tickets, incoming, UpdateLog(tickets.session))
    for outcome, (message, _update_id) in zip(outcomes, messages, strict=False):
        await tell(desk, outcome, message)
    return len(outcomes)


async def client_edited_message(
    edited_message: Message, event_update: Update, tickets: TicketService, desk: Desk
) -> None:
    """An edit is recorded as an event; the engineers see it beside the message's copy."""
    incoming = incoming_message(edited_message, event_update.update_id)
    edited_at = edit_time(edited_message)
    await tell(desk, await client_edited(tickets, incoming, edited_at), edited_message)


def get_router(settings: BotSettings) -> Router:
    # Last of the private-chat routers: it takes whatever the others did not.
    router = private_router("client_messages")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(first_message_of_new_ticket, StateFilter(NewTicket.waiting_for_text))
    router.message.register(client_message)
    # Asking for edits makes the poller ask Telegram for `edited_message` updates too.
    router.edited_message.filter(F.chat.type == "private")
    router.edited_message.register(client_edited_message)
    return router
