"""E-mail tickets in their topics: an engineer's message leaves as a mail; `/sent TEXT`
records an answer given outside the desk."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.incoming import incoming_message
from bot.middlewares import wants_ticket
from bot.settings import BotSettings
from crm.models import Channel, Ticket
from crm.tickets import TicketService
from crm.usecases.mail_reply import answered_elsewhere, email_reply

# A standard reaction: the engineer's message left as a mail.
MAIL_QUEUED = "👌"


async def answer_by_email(
    message: Message, update_id: int, ticket: Ticket, tickets: TicketService, desk: Desk
) -> bool:
    """An engineer's message in an e-mail ticket's topic, queued as a mail to the client;
    False when this is not one (the caller keeps it as a note, as for any other ticket)."""
    settings = desk.settings
    if ticket.channel is not Channel.EMAIL or not settings.mail_enabled or not settings.mail_from:
        return False
    if message.text is None and message.caption is None:
        # A bare file or sticker: nothing to write in a mail; it stays here as a note.
        desk.answer(message, _("Only text goes by e-mail: this stays here as a note."))
        return False
    incoming = incoming_message(message, update_id)
    outgoing = await email_reply(tickets, desk.outbox, ticket, incoming, settings.mail_from)
    if outgoing is None:
        return False
    if message.text is None:
        desk.answer(message, _("Only the text of a message goes by e-mail; files stay here."))
    desk.react(message, MAIL_QUEUED)
    return True


async def sent(
    message: Message,
    command: CommandObject,
    event_update: Update,
    ticket: Ticket,
    tickets: TicketService,
    desk: Desk,
) -> None:
    if not command.args:
        desk.answer(message, _("Write the answer you gave after the command: /sent TEXT"))
        return
    if ticket.channel is Channel.TELEGRAM:
        desk.answer(message, _("/sent is for e-mail and phone tickets: here, just write."))
        return
    incoming = incoming_message(message, event_update.update_id)
    recorded = await answered_elsewhere(tickets, ticket, incoming, command.args)
    if recorded is not None:
        desk.answer(
            message,
            _("📨 Recorded as answered at {time}.").format(time=desk.local(recorded.telegram_date)),
        )


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_mail", settings)
    router.message.register(sent, Command("sent"), flags=wants_ticket("required"))
    return router
