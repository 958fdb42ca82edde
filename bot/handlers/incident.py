"""Outage evidence: open, confirm, reject, restore, correct, classify, bind a service;
gather outages of several services (`/merge`, `/site`).

Commands act on the incident of the room they are written in (on every incident of its
outage, each keeping its own evidence; `#N` first picks one), or on a reporting ticket's
open incident in its topic; TicketMiddleware (flag `wants_ticket("incident")`) finds it once,
answers where none fits, and asks which when a ticket reports several (`/confirm #12 os`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import ParseError, parse_stated_time
from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.incoming import telegram_user
from bot.middlewares import INCIDENT_ARGUMENT, named_incident, wants_ticket
from bot.notices import tell
from bot.settings import BotSettings
from crm.incidents import IncidentService
from crm.models import Incident, Ticket
from crm.tickets import TicketService
from crm.usecases import outage_commands, ticket_commands
from crm.usecases.notices import Outcome
from sla.model import Exclusion, IncidentStatus, Layer, RestorationType

LAYERS = ", ".join(layer.value for layer in Layer)
EXCLUSIONS = "|".join(exclusion.value for exclusion in Exclusion)


def arguments(command: CommandObject) -> str:
    """The command's own arguments, without the `#N` that named the incident."""
    return INCIDENT_ARGUMENT.sub("", (command.args or "").strip(), count=1).strip()


def outage_command(message: Message, incident: Incident) -> outage_commands.OutageCommand:
    assert message.from_user is not None
    return outage_commands.OutageCommand(incident, telegram_user(message.from_user), message.date)


Act = Callable[[outage_commands.OutageCommand], Awaitable[Outcome]]


def not_rejected(incident: Incident) -> bool:
    return incident.status is not IncidentStatus.REJECTED


async def on_outage(
    message: Message,
    ticket: Ticket | None,
    incident: Incident,
    incidents: IncidentService,
    act: Act,
    keep: Callable[[Incident], bool] = not_rejected,
) -> Outcome:
    """A command in a room acts on every incident of its outage that `keep`s (each one's
    evidence recorded on it, its clients told); `#N`, or a ticket's topic, names one alone.
    When no member fits, the first one answers why."""
    if ticket is not None or named_incident(message) is not None:
        targets = [incident]
    else:
        members = await incidents.outage_members(incident)
        targets = [member for member in members if keep(member)] or members[:1]
    outcome = Outcome()
    for target in targets:
        outcome += await act(outage_command(message, target))
    return outcome


async def open_outage(
    message: Message,
    command: CommandObject,
    ticket: Ticket | None,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    usage = _("Write it as: /outage SERVICE_ID [HH:MM | YYYY-MM-DD HH:MM], e.g. /outage 7")
    if ticket is None or message.from_user is None:
        desk.answer(message, _("Use /outage SERVICE_ID inside the ticket's topic."))
        return
    service, _space, when = arguments(command).partition(" ")
    if not service.isdigit():
        desk.answer(message, usage)
        return
    if when.strip():
        parsed = parse_stated_time(when, message.date, desk.zone)
        if isinstance(parsed, ParseError):
            desk.answer(message, usage)
            return
        notice = (parsed[0], "stated")
    else:
        reply = message.reply_to_message
        copy = reply.message_id if reply is not None and not reply.forum_topic_created else None
        notice = await incidents.reporting_message_time(ticket, copy)
    engineer = telegram_user(message.from_user)
    outcome = await outage_commands.open_outage(incidents, ticket, int(service), engineer, notice)
    await tell(desk, outcome, message)


async def confirm(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    try:
        layer = Layer(arguments(command).lower())
    except ValueError:
        text = _("Write it as: /confirm LAYER, where LAYER is one of: {layers}")
        desk.answer(message, text.format(layers=LAYERS))
        return
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.confirm_outage(incidents, c, layer),
    )  # fmt: skip
    await tell(desk, outcome, message)


async def reject(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    reason = arguments(command)
    if not reason:
        desk.answer(message, _("Write it as: /reject REASON, e.g. /reject client-side DNS"))
        return
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.reject_outage(incidents, c, reason),
    )  # fmt: skip
    await tell(desk, outcome, message)


async def restored(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    parsed = parse_stated_time(arguments(command), message.date, desk.zone)
    if isinstance(parsed, ParseError):
        text = _("«{value}» is not a time. Write it as: /restored [HH:MM | YYYY-MM-DD HH:MM]")
        desk.answer(message, text.format(value=parsed.value))
        return
    restored_at, stated = parsed
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.restore_outage(incidents, c, restored_at, stated=stated),
        keep=lambda i: not_rejected(i) and i.restored_at is None,
    )  # fmt: skip
    await tell(desk, outcome, message)


# `/correct 14:05 REASON` or `/correct 2026-12-01 14:05 REASON`.
CORRECTION = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}|\d{1,2}:\d{2})\s+(\S.*)$", re.S)


async def correct(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    """A restoration time corrected, with the reason: its own event, the old one kept."""
    usage = _(
        "Write it as: /correct TIME REASON, e.g. /correct 14:05 the monitoring graph shows 14:05"
    )
    match = CORRECTION.match(arguments(command))
    parsed = parse_stated_time(match.group(1), message.date, desk.zone) if match else None
    if match is None or parsed is None or isinstance(parsed, ParseError):
        desk.answer(message, usage)
        return
    at, reason = parsed[0], match.group(2).strip()
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.restore_outage(
            incidents, c, at, stated=True, correction=reason
        ),
        keep=lambda i: not_rejected(i) and i.restored_at is not None,
    )  # fmt: skip
    await tell(desk, outcome, message)


async def exclude(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    kind, _sep, note = arguments(command).partition(" ")
    try:
        exclusion = Exclusion(kind.lower())
    except ValueError:
        desk.answer(message, _("Write it as: /exclude {kinds} [NOTE]").format(kinds=EXCLUSIONS))
        return
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.exclude_outage(incidents, c, exclusion, note.strip() or None),
    )  # fmt: skip
    await tell(desk, outcome, message)


async def restoration(
    message: Message, command: CommandObject, ticket: Ticket | None, incident: Incident,
    incidents: IncidentService, desk: Desk,
) -> None:  # fmt: skip
    try:
        kind = RestorationType(arguments(command).lower())
    except ValueError:
        desk.answer(message, _("Write it as: /restoration reboot|repair"))
        return
    config = desk.settings.sla_config()
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.set_restoration_type(incidents, c, kind, config),
    )  # fmt: skip
    await tell(desk, outcome, message)


async def data_loss(
    message: Message, ticket: Ticket | None, incident: Incident, incidents: IncidentService,
    desk: Desk,
) -> None:  # fmt: skip
    outcome = await on_outage(
        message, ticket, incident, incidents,
        lambda c: outage_commands.record_data_loss(incidents, c),
    )  # fmt: skip
    await tell(desk, outcome, message)


# `/merge #12 #15` or `/merge 12 15`.
NUMBER = re.compile(r"^#?(\d+)$")


async def merge(
    message: Message, command: CommandObject, incidents: IncidentService, desk: Desk
) -> None:
    """`/merge #A #B ...`: in an outage's room, they join that outage; elsewhere they join
    the first one named. Each keeps its own evidence; the room and commands are shared."""
    words = (command.args or "").split()
    numbers = [int(m.group(1)) for word in words if (m := NUMBER.match(word))]
    room = None
    if message.is_topic_message and message.message_thread_id is not None:
        room = await incidents.for_room(message.chat.id, message.message_thread_id)
    if (
        message.from_user is None
        or not words
        or len(numbers) != len(words)
        or (room is None and len(numbers) < 2)
    ):
        desk.answer(message, _(
            "Write it as: /merge #A #B ... In an outage's room they join its outage; "
            "elsewhere they join the first one named, e.g. /merge #12 #15 #16."
        ))  # fmt: skip
        return
    target: Incident | int = room if room is not None else numbers.pop(0)
    engineer = telegram_user(message.from_user)
    outcome = await outage_commands.merge_outages(
        incidents, target, numbers, engineer, message.date
    )
    await tell(desk, outcome, message)


async def site(
    message: Message, command: CommandObject, incident: Incident, incidents: IncidentService,
    desk: Desk,
) -> None:  # fmt: skip
    """`/site DC1`: every running outage at the site joins this one, and so does each new
    report of a service there while it runs."""
    name = arguments(command)
    if not name or len(name) > 64:
        desk.answer(message, _("Write it as: /site SITE in an outage's room, e.g. /site DC1"))
        return
    c = outage_command(message, incident)
    await tell(desk, await outage_commands.gather_site(incidents, c, name), message)


async def bind_service(
    message: Message, command: CommandObject, ticket: Ticket, tickets: TicketService, desk: Desk
) -> None:
    """`/service ID`: the ticket is about that service (its targets follow the service)."""
    argument = arguments(command)
    if not argument.isdigit() or message.from_user is None:
        desk.answer(message, _("Write it as: /service SERVICE_ID, e.g. /service 7"))
        return
    engineer = telegram_user(message.from_user)
    outcome = await ticket_commands.bind_service(tickets, ticket, int(argument), engineer)
    await tell(desk, outcome, message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("incident", settings)
    router.message.register(open_outage, Command("outage"), flags=wants_ticket("optional"))
    router.message.register(bind_service, Command("service"), flags=wants_ticket("required"))
    router.message.register(merge, Command("merge"))
    for name, handler in (
        ("confirm", confirm),
        ("reject", reject),
        ("restored", restored),
        ("correct", correct),
        ("exclude", exclude),
        ("restoration", restoration),
        ("dataloss", data_loss),
        ("site", site),
    ):
        router.message.register(handler, Command(name), flags=wants_ticket("incident"))
    return router
