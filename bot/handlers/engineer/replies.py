"""What engineers write in a ticket's topic: copied to the client, or an internal note.

Last of the support-group routers: an unknown command is explained, talk outside any
ticket (the general topic) is the engineers' own.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.engineer import replies_to_the_desk, support_router, warn_unplaced
from bot.handlers.engineer.mail import answer_by_email
from bot.incoming import edit_time, incoming_message
from bot.middlewares import wants_ticket
from bot.notices import tell
from bot.settings import BotSettings
from bot.texts import engineer_help
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.engineer_replied import engineer_edited, engineer_wrote

# Service messages (topic created, member joined...) are not anybody's words.
CONVERSATION_CONTENT = {
    ContentType.TEXT, ContentType.PHOTO, ContentType.DOCUMENT, ContentType.VIDEO,
    ContentType.VOICE, ContentType.AUDIO, ContentType.ANIMATION, ContentType.STICKER,
    ContentType.VIDEO_NOTE, ContentType.LOCATION, ContentType.CONTACT, ContentType.VENUE,
    ContentType.POLL, ContentType.DICE,
}  # fmt: skip


async def note(
    message: Message,
    command: CommandObject,
    event_update: Update,
    ticket: Ticket,
    tickets: TicketService,
    desk: Desk,
) -> None:
    if not command.args:
        desk.answer(message, _("Write the note after the command: /note TEXT"))
        return
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await engineer_wrote(tickets, ticket, incoming, internal=True), message)


async def unknown_command(message: Message, desk: Desk) -> None:
    command = (message.text or "").split()[0]
    text = _("Unknown command {command}.").format(command=command)
    desk.answer(message, text + "\n" + engineer_help())


async def engineer_message(
    message: Message,
    event_update: Update,
    ticket: Ticket | None,
    tickets: TicketService,
    desk: Desk,
    bot: Bot,
) -> None:
    if message.from_user is None:
        return
    if ticket is None:
        # The desk's posts here include alerts no ticket owns: a reply to one is only a
        # lost answer while a ticket's send to this chat still waits to be recorded.
        if replies_to_the_desk(message, bot.id) and await desk.outbox.ticket_sends_unrecorded(
            message.chat.id
        ):
            warn_unplaced(desk, message)
        return  # Talk in the general topic is the engineers' own.
    internal = (message.text or message.caption or "").startswith("!")
    if not internal and await answer_by_email(
        message, event_update.update_id, ticket, tickets, desk
    ):
        return  # An e-mail ticket's answer leaves by mail (bot/handlers/engineer/mail.py).
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await engineer_wrote(tickets, ticket, incoming, internal=internal), message)


async def engineer_edited_message(
    edited_message: Message, event_update: Update, tickets: TicketService, desk: Desk
) -> None:
    """An edit is recorded as an event; an answer the client has is edited there too."""
    if edited_message.from_user is None:
        return
    incoming = incoming_message(edited_message, event_update.update_id)
    edited_at = edit_time(edited_message)
    await tell(desk, await engineer_edited(tickets, incoming, edited_at), edited_message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_replies", settings)
    router.message.register(note, Command("note"), flags=wants_ticket("required"))
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(
        engineer_message, F.content_type.in_(CONVERSATION_CONTENT), flags=wants_ticket("optional")
    )
    router.edited_message.filter(F.chat.id == settings.support_chat_id)
    router.edited_message.register(engineer_edited_message)
    return router
