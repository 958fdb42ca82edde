"""Outage evidence, in the ticket's topic: open, confirm, reject, restore, classify.

The ticket and its outage are found once, before the handler (TicketMiddleware, flag
`wants_ticket("incident")`); a command outside a ticket or before any outage is answered there.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import ParseError, parse_stated_time
from bot.desk import Desk
from bot.handlers.engineer import support_router
from bot.incoming import telegram_user
from bot.middlewares import wants_ticket
from bot.notices import tell
from bot.settings import BotSettings
from crm.incidents import IncidentService
from crm.models import Incident, Ticket
from crm.usecases import outage_commands
from sla.model import Exclusion, Layer, RestorationType

LAYERS = ", ".join(layer.value for layer in Layer)
EXCLUSIONS = "|".join(exclusion.value for exclusion in Exclusion)


def arguments(command: CommandObject) -> str:
    return (command.args or "").strip()


def outage_command(
    message: Message, ticket: Ticket, incident: Incident
) -> outage_commands.OutageCommand:
    assert message.from_user is not None
    return outage_commands.OutageCommand(
        ticket, incident, telegram_user(message.from_user), message.date
    )


async def open_outage(
    message: Message,
    command: CommandObject,
    ticket: Ticket | None,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    if ticket is None or message.from_user is None:
        desk.answer(message, _("Use /outage SERVICE_ID inside the ticket's topic."))
        return
    argument = arguments(command)
    if not argument.isdigit():
        desk.answer(message, _("Write it as: /outage SERVICE_ID, e.g. /outage 7"))
        return
    engineer = telegram_user(message.from_user)
    outcome = await outage_commands.open_outage(incidents, ticket, int(argument), engineer)
    await tell(desk, outcome, message)


async def confirm(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    incident: Incident,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    try:
        layer = Layer(arguments(command).lower())
    except ValueError:
        text = _("Write it as: /confirm LAYER, where LAYER is one of: {layers}")
        desk.answer(message, text.format(layers=LAYERS))
        return
    c = outage_command(message, ticket, incident)
    await tell(desk, await outage_commands.confirm_outage(incidents, c, layer), message)


async def reject(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    incident: Incident,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    reason = arguments(command)
    if not reason:
        desk.answer(message, _("Write it as: /reject REASON, e.g. /reject client-side DNS"))
        return
    c = outage_command(message, ticket, incident)
    await tell(desk, await outage_commands.reject_outage(incidents, c, reason), message)


async def restored(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    incident: Incident,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    parsed = parse_stated_time(arguments(command), message.date, desk.zone)
    if isinstance(parsed, ParseError):
        text = _("«{value}» is not a time. Write it as: /restored [HH:MM | YYYY-MM-DD HH:MM]")
        desk.answer(message, text.format(value=parsed.value))
        return
    restored_at, stated = parsed
    c = outage_command(message, ticket, incident)
    outcome = await outage_commands.restore_outage(incidents, c, restored_at, stated=stated)
    await tell(desk, outcome, message)


async def exclude(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    incident: Incident,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    kind, _sep, note = arguments(command).partition(" ")
    try:
        exclusion = Exclusion(kind.lower())
    except ValueError:
        desk.answer(message, _("Write it as: /exclude {kinds} [NOTE]").format(kinds=EXCLUSIONS))
        return
    c = outage_command(message, ticket, incident)
    outcome = await outage_commands.exclude_outage(incidents, c, exclusion, note.strip() or None)
    await tell(desk, outcome, message)


async def restoration(
    message: Message,
    command: CommandObject,
    ticket: Ticket,
    incident: Incident,
    incidents: IncidentService,
    desk: Desk,
) -> None:
    try:
        kind = RestorationType(arguments(command).lower())
    except ValueError:
        desk.answer(message, _("Write it as: /restoration reboot|repair"))
        return
    c = outage_command(message, ticket, incident)
    config = desk.settings.sla_config()
    outcome = await outage_commands.set_restoration_type(incidents, c, kind, config)
    await tell(desk, outcome, message)


async def data_loss(
    message: Message, ticket: Ticket, incident: Incident, incidents: IncidentService, desk: Desk
) -> None:
    c = outage_command(message, ticket, incident)
    await tell(desk, await outage_commands.record_data_loss(incidents, c), message)


def get_router(settings: BotSettings) -> Router:
    router = support_router("incident", settings)
    router.message.register(open_outage, Command("outage"), flags=wants_ticket("optional"))
    router.message.register(confirm, Command("confirm"), flags=wants_ticket("incident"))
    router.message.register(reject, Command("reject"), flags=wants_ticket("incident"))
    router.message.register(restored, Command("restored"), flags=wants_ticket("incident"))
    router.message.register(exclude, Command("exclude"), flags=wants_ticket("incident"))
    router.message.register(restoration, Command("restoration"), flags=wants_ticket("incident"))
    router.message.register(data_loss, Command("dataloss"), flags=wants_ticket("incident"))
    return router
