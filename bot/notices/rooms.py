"""Words for an outage's room in a storm: one answer for all, a topic for one."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.desk import Desk, Origin
from crm.usecases import notices as n


async def room_answered(notice: n.RoomAnswered, desk: Desk, origin: Origin) -> None:
    """Tells the engineer who hears it, in one reply (the group's budget is shared)."""
    if notice.clients == 0:
        desk.reply(
            origin,
            _(
                "No client reported outage #{incident} in Telegram: nobody to send this to. "
                "A note here needs no answer."
            ).format(incident=notice.incident.id),
        )
        return
    text = ngettext(
        "📨 Sent to the {count} client who reported outage #{incident}.",
        "📨 Sent to the {count} clients who reported outage #{incident}.",
        notice.clients,
    )
    desk.reply(origin, text.format(count=notice.clients, incident=notice.incident.id))


async def topic_opened(notice: n.TopicOpened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.open_topic(ticket)
    text = _(
        "Earlier messages of #{number} are in the room of outage #{incident}. Write here to "
        "answer this client alone."
    )
    desk.post_to_topic(ticket, text.format(number=ticket.id, incident=notice.room))
    desk.reply(origin, _("#{number} has its own topic now.").format(number=ticket.id))


async def topic_not_needed(notice: n.TopicNotNeeded, desk: Desk, origin: Origin) -> None:
    if notice.ticket is None:
        desk.reply(origin, _("There is no ticket #{number}.").format(number=notice.number))
    elif notice.ticket.support_chat_id is not None:
        desk.reply(origin, _("#{number} already has its own topic.").format(number=notice.number))
    else:
        desk.reply(
            origin,
            _("#{number} is not gathered in an outage's room: its topic opens with its first "
              "message.").format(number=notice.number),
        )  # fmt: skip
