"""What the managers decide that changes the engineers' work, told in the general topic.

Called by the managers' handlers after `tell`: an emergency declared or ended, maintenance
registered or cancelled reach the support group in the engineers' language.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiogram.utils.i18n import gettext as _

from bot.desk import Desk, Origin
from bot.texts import duration
from crm.handoff import queue_handoff
from crm.models import Channel, Direction, MaintenanceWindow, Purpose
from crm.usecases import notices as n


def tell_engineers(desk: Desk, outcome: n.Outcome) -> None:
    with desk.i18n.use_locale(desk.settings.engineer_language):
        for notice in outcome.notices:
            text = engineers_text(notice, desk)
            if text is not None:
                desk.tell_engineers(text)


def engineers_text(notice: n.Notice, desk: Desk) -> str | None:
    if isinstance(notice, n.EmergencyDeclared):
        target = duration(timedelta(minutes=notice.target_minutes))
        text = _(
            "🚨 The managers declared an emergency: new tickets must be answered within {target}."
        )
        return text.format(target=target)
    if isinstance(notice, n.EmergencyEnded):
        target = duration(timedelta(minutes=notice.normal_minutes))
        text = _("The emergency is over: new tickets are back to a first response within {target}.")
        return text.format(target=target)
    if isinstance(notice, n.MaintenanceRegistered):
        text = _("🛠 Maintenance #{id} planned ({scope}): {window}. {description}")
        return text.format(
            id=notice.window.id,
            scope=scope(notice.window),
            window=window_span(notice.window, desk),
            description=notice.window.description,
        )
    if isinstance(notice, n.MaintenanceCancelled):
        text = _("Maintenance #{id} ({scope}, {window}) is cancelled.")
        return text.format(
            id=notice.window.id, scope=scope(notice.window), window=window_span(notice.window, desk)
        )
    return None


def utf16_length(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def with_mentions(
    text: str, duty_engineers: tuple[str, ...], label: str
) -> tuple[str, list[dict[str, Any]]]:
    """The text followed by a real mention of each engineer on duty, and the entities.

    `@username` becomes a `mention`; a user id (`123456` or `123456:Dana`) a `text_mention`
    showing the name (or `label`), which pings the user even without a username.
    """
    entities: list[dict[str, Any]] = []
    for entry in duty_engineers:
        entity: dict[str, Any]
        if entry.startswith("@"):
            shown, entity = entry, {"type": "mention"}
        else:
            user_id, _sep, name = entry.partition(":")
            shown = name.strip() or label
            user = {"id": int(user_id), "is_bot": False, "first_name": shown}
            entity = {"type": "text_mention", "user": user}
        text = f"{text} " if text else text
        entities.append({**entity, "offset": utf16_length(text), "length": utf16_length(shown)})
        text += shown
    return text, entities


def scope(window: MaintenanceWindow) -> str:
    if window.service_id is None:
        return _("all services")
    return _("service {service_id}").format(service_id=window.service_id)


def window_span(window: MaintenanceWindow, desk: Desk) -> str:
    return _("from {start} to {end} ({zone})").format(
        start=desk.local(window.starts_at),
        end=desk.local(window.ends_at),
        zone=desk.settings.timezone,
    )


# -- hand-off to another department (A/B 5.3) --------------------------------------------------

HISTORY_LINES = 10
HISTORY_TEXT = 300
TEXT_LIMIT = 4096


def handoff_summary(notice: n.HandedOff, desk: Desk) -> str:
    """The card a department reads: who handed it over and why, the ticket, its history."""
    t = desk.engineer_text
    handoff = notice.handoff
    lines = [
        t("📨 Handed over by {name} from support, {time}.").format(
            name=handoff.by_name or "?", time=desk.local(handoff.handed_at)
        )
    ]
    if handoff.note:
        lines.append(t("Note: {note}").format(note=handoff.note))
    header = desk.header_text(notice.ticket)
    if notice.ticket.channel is Channel.TELEGRAM:
        header = header.rsplit("\n", 1)[0]  # "Write here to answer…" is for the support group
    lines += ["", header, "", t("History:")]
    who = {
        Direction.FROM_CLIENT: t("client"),
        Direction.TO_CLIENT: t("support"),
        Direction.NOTE: t("note"),
        Direction.BOT: t("bot"),
    }
    for message in notice.history[-HISTORY_LINES:]:
        text = (message.text or message.content_type)[:HISTORY_TEXT]
        moment = message.telegram_date or message.received_at
        lines.append(f"{desk.local(moment)} {who[message.direction]}: {text}")
    footer = t(
        "Reply in this topic (or to this message) to answer the client; "
        "start with ! to keep it among yourselves."
    )
    body = "\n".join(lines)[: TEXT_LIMIT - len(footer) - 2]
    return body + "\n\n" + footer


async def handed_off(notice: n.HandedOff, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    summary = handoff_summary(notice, desk)
    queue_handoff(desk.outbox, notice.handoff, desk.topic_name(ticket), summary)
    text = desk.engineer_text("📨 #{number} handed over to {department}.")
    desk.reply(origin, text.format(number=ticket.id, department=notice.handoff.department))


async def unknown_department(notice: n.UnknownDepartment, desk: Desk, origin: Origin) -> None:
    t = desk.engineer_text
    if not notice.known:
        text = t("No departments are set up: DEPARTMENTS=billing:-100…,sales:-100…")
    else:
        text = t("Unknown department «{name}». Known: {known}. Usage: /handoff DEPARTMENT [NOTE]")
        text = text.format(name=notice.department, known=", ".join(notice.known))
    desk.reply(origin, text)


async def department_replied(notice: n.DepartmentReplied, desk: Desk, origin: Origin) -> None:
    """A department's answer: copied to the client, and shown to support in the topic."""
    ticket, message = notice.ticket, notice.message
    if message.direction is Direction.TO_CLIENT and ticket.client_chat_id is not None:
        assert message.chat_id is not None and message.telegram_message_id is not None
        desk.outbox.copy_message(
            ticket.client_chat_id,
            message.chat_id,
            message.telegram_message_id,
            purpose=Purpose.COPY_OUT,
            message_row_id=message.id,
            ticket_id=ticket.id,
        )
        text = desk.engineer_text("💬 {department} answered the client: {text}")
    else:
        text = desk.engineer_text("💬 {department} (internal): {text}")
    body = text.format(department=notice.department, text=message.text or message.content_type)
    desk.post_to_topic(ticket, body[:TEXT_LIMIT])
