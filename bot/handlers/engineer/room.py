"""An outage's room: what an engineer writes there goes to every client who reported it;
`/open TICKET` gives one report a topic of its own, to talk to that client alone.

Before the ticket topics' router: a room is no ticket's topic, and a reply to one
reporter's line there still speaks to all of them (one line may carry several reports).
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.handlers.engineer.replies import CONVERSATION_CONTENT
from bot.incoming import incoming_message
from bot.notices import tell
from bot.settings import BotSettings
from crm.incidents import IncidentService
from crm.models import Incident
from crm.tickets import TicketService
from crm.usecases.room_answer import answer_reporters, open_topic


async def room_of(message: Message, incidents: IncidentService) -> dict[str, Any] | bool:
    """Passes the room's incident to the handler; False outside any room."""
    if not message.is_topic_message or message.message_thread_id is None:
        return False
    incident = await incidents.for_room(message.chat.id, message.message_thread_id)
    return {"incident": incident} if incident is not None else False


async def room_message(
    message: Message,
    event_update: Update,
    incident: Incident,
    tickets: TicketService,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    if message.from_user is None or message.from_user.is_bot:
        return
    if (message.text or message.caption or "").startswith("!"):
        return  # The engineers' own talk, as in a ticket's topic.
    incoming = incoming_message(message, event_update.update_id)
    await tell(desk, await answer_reporters(tickets, incidents, incident, incoming), message)


async def open_ticket_topic(
    message: Message, command: CommandObject, tickets: TicketService, desk: Desk
) -> None:
    argument = (command.args or "").strip().removeprefix("#")
    if not argument.isdigit():
        desk.answer(message, _("Write it as: /open TICKET, e.g. /open 1042"))
        return
    await tell(desk, await open_topic(tickets, int(argument)), message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("engineer_room", settings)
    router.message.register(open_ticket_topic, Command("open"))
    router.message.register(
        room_message,
        F.content_type.in_(CONVERSATION_CONTENT),
        ~F.text.startswith("/"),
        room_of,
    )
    return router
