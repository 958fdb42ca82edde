"""Words for an outage's room in a storm: one answer for all, a topic for one."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.desk import Desk, Origin
from crm.models import Direction, Message
from crm.usecases import notices as n

TEXT_LIMIT = 4096
HISTORY_LINE_LIMIT = 300  # a long message is shortened so that more of them fit


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
    if notice.waiting == 0:
        text = ngettext(
            "📨 Sent to the {count} client who reported outage #{incident}.",
            "📨 Sent to the {count} clients who reported outage #{incident}.",
            notice.clients,
        )
    else:
        text = ngettext(
            "📨 Sent to the {count} client of outage #{incident}: {reported} reported it, "
            "{waiting} wrote while it ran.",
            "📨 Sent to the {count} clients of outage #{incident}: {reported} reported it, "
            "{waiting} wrote while it ran.",
            notice.clients,
        )
    desk.reply(
        origin,
        text.format(
            count=notice.clients,
            incident=notice.incident.id,
            reported=notice.clients - notice.waiting,
            waiting=notice.waiting,
        ),
    )


async def topic_opened(notice: n.TopicOpened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.open_topic(ticket)
    text = _(
        "Earlier messages of #{number} are in the room of outage #{incident}. Write here to "
        "answer this client alone."
    ).format(number=ticket.id, incident=notice.room)
    desk.post_to_topic(ticket, _with_history(desk, text, notice.earlier))
    desk.reply(origin, _("#{number} has its own topic now.").format(number=ticket.id))


def _with_history(desk: Desk, intro: str, earlier: Sequence[Message]) -> str:
    """The ticket's conversation so far, newest last, as much as one message holds: the
    engineer who opens the topic should not have to search the room for it."""
    marks = {
        Direction.FROM_CLIENT: "👤",
        Direction.TO_CLIENT: "↩️",
        Direction.NOTE: "📝",
    }
    lines = [
        f"{desk.local(m.telegram_date or m.received_at)} {marks[m.direction]} "
        + _shortened(m.text or f"[{m.content_type}]")
        for m in earlier
        if m.direction in marks
    ]
    kept: list[str] = []
    room = TEXT_LIMIT - len(intro) - 100  # the line saying how many did not fit
    for line in reversed(lines):
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    if not kept:
        return intro
    left_out = len(lines) - len(kept)
    if left_out:
        kept.insert(0, _("… {count} earlier in the room.").format(count=left_out))
    return intro + "\n\n" + "\n".join(kept)


def _shortened(text: str, limit: int = HISTORY_LINE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
