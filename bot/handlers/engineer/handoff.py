"""Hand-off to another department (terms A/B 5.3).

`/handoff DEPARTMENT [NOTE]` in a ticket's topic posts the ticket to that department's chat
(`DEPARTMENTS=billing:-100…,sales:-100…`); what the department writes there about it (in
its topic, or replying to the post where the chat has no topics) reaches the client like an
engineer's answer.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update

from bot.desk import Desk
from bot.handlers.engineer import replies_to_the_desk, support_router, warn_unplaced
from bot.handlers.engineer.replies import CONVERSATION_CONTENT, engineer_edited_message
from bot.incoming import incoming_message, telegram_user
from bot.middlewares import wants_ticket
from bot.notices import tell
from bot.settings import BotSettings
from crm.handoff import ticket_in_department
from crm.models import Ticket
from crm.tickets import TicketService
from crm.usecases.engineer_replied import department_wrote
from crm.usecases.handoff import handoff_ticket


async def handoff(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    tickets: TicketService,
    desk: Desk,
) -> None:
    assert message.from_user is not None
    department, _sep, note = (command.args or "").strip().partition(" ")
    outcome = await handoff_ticket(
        tickets,
        ticket,
        desk.settings.departments,
        department,
        note.strip() or None,
        telegram_user(message.from_user),
        message.date,
    )
    await tell(desk, outcome, message)


async def department_message(
    message: Message, event_update: Update, tickets: TicketService, desk: Desk, bot: Bot
) -> None:
    """A message in a department's chat: an answer when it is about a handed-off ticket."""
    if message.from_user is None or message.from_user.is_bot:
        return
    if (message.text or "").startswith("/"):
        return  # Commands are not answers.
    reply = message.reply_to_message
    found = await ticket_in_department(
        tickets.session,
        message.chat.id,
        message.message_thread_id if message.is_topic_message else None,
        reply.message_id if reply is not None else None,
    )
    if found is None:
        if replies_to_the_desk(message, bot.id):
            # Every post of the desk's in a department's chat is about a ticket.
            warn_unplaced(desk, message)
        return  # The department's own talk.
    ticket, handed = found
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await department_wrote(tickets, ticket, handed, incoming), message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("handoff", settings)
    router.message.register(handoff, Command("handoff"), flags=wants_ticket("required"))
    return router


def get_department_router(settings: BotSettings) -> Router:
    router = Router(name="departments")
    chats = frozenset(settings.departments.values())
    router.message.filter(F.chat.id.in_(chats))
    router.message.register(department_message, F.content_type.in_(CONVERSATION_CONTENT))
    # A department's edit of an answer edits the client's copy, like an engineer's.
    router.edited_message.filter(F.chat.id.in_(chats))
    router.edited_message.register(engineer_edited_message)
    return router
