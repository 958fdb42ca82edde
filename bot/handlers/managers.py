"""Managers in a private chat: planned maintenance, emergency mode, SLA reports."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import ParseError, parse_maintenance, parse_month_argument
from bot.desk import Desk
from bot.i18n import pick_locale
from bot.reports import request_report
from bot.settings import BotSettings
from bot.timers import board_text
from crm.alerts import SlaClockScanner
from crm.emergencies import EmergencyService
from crm.errors import CrmError
from crm.maintenance import MaintenanceService
from crm.models import Purpose
from sla.intervals import previous_month

log = structlog.get_logger()

MANAGER_COMMANDS = ("maintenance", "emergency", "report", "board")
MAINTENANCE_USAGE = "/maintenance SERVICE_ID|all YYYY-MM-DD HH:MM YYYY-MM-DD HH:MM TEXT"


def make_router(settings: BotSettings) -> Router:
    router = Router(name="managers")
    router.message.filter(F.chat.type == "private")

    @router.message(Command(*MANAGER_COMMANDS), F.from_user.id.not_in(settings.manager_ids))
    async def refuse(message: Message, desk: Desk) -> None:
        desk.answer(message, _("This command is for managers only."))

    @router.message(Command("maintenance"))
    async def maintenance(
        message: Message,
        command: CommandObject,
        maintenance: MaintenanceService,
        desk: Desk,
        bot: Bot,
        i18n: I18n,
    ) -> None:
        assert message.from_user is not None
        action, _sep, rest = (command.args or "").strip().partition(" ")
        if action == "list":
            windows = await maintenance.upcoming(message.date)
            if not windows:
                desk.answer(message, _("No planned maintenance."))
                return
            everywhere = _("all services")
            lines = [
                f"#{w.id} · {w.service_id or everywhere} · {desk.local(w.starts_at)} – "
                f"{desk.local(w.ends_at)} · {w.description}"
                for w in windows
            ]
            desk.answer(message, "\n".join(lines))
            return
        if action == "cancel":
            if not rest.strip().isdigit():
                desk.answer(message, _("Write it as: /maintenance cancel ID"))
                return
            try:
                window = await maintenance.cancel(int(rest))
            except CrmError:
                desk.answer(message, _("There is no maintenance #{id}.").format(id=rest.strip()))
                return
            desk.answer(message, _("Maintenance #{id} cancelled.").format(id=window.id))
            return
        parsed = parse_maintenance(command.args, desk.zone)
        if isinstance(parsed, ParseError):
            desk.answer(
                message,
                explain_maintenance(parsed)
                + "\n"
                + _("Write it as: {usage}").format(usage=MAINTENANCE_USAGE)
                + "\n/maintenance list · /maintenance cancel ID",
            )
            return
        try:
            window = await maintenance.add(
                parsed.service_id,
                parsed.starts_at,
                parsed.ends_at,
                parsed.text,
                message.from_user.id,
            )
        except CrmError:
            desk.answer(
                message, _("There is no service {service_id}.").format(service_id=parsed.service_id)
            )
            return
        notified = 0
        for contact in await maintenance.affected_contacts(parsed.service_id):
            locale = pick_locale(contact.chosen_language, contact.telegram_language)
            with i18n.use_locale(locale):
                text = _("Planned maintenance from {start} to {end} ({zone}): {text}").format(
                    start=desk.local(window.starts_at),
                    end=desk.local(window.ends_at),
                    zone=settings.timezone,
                    text=window.description,
                )
            desk.send_to(contact.telegram_user_id, text, purpose=Purpose.MAINTENANCE)
            notified += 1
        desk.answer(
            message,
            _("Maintenance #{id} registered; {count} clients will be notified.").format(
                id=window.id, count=notified
            ),
        )

    @router.message(Command("emergency"))
    async def emergency(
        message: Message,
        command: CommandObject,
        emergencies: EmergencyService,
        desk: Desk,
    ) -> None:
        assert message.from_user is not None
        switch, _sep, note = (command.args or "").strip().partition(" ")
        if switch == "on":
            await emergencies.declare(note.strip() or None, message.from_user.id, message.date)
            desk.answer(
                message,
                _(
                    "🚨 Emergency declared: new tickets get the emergency target of {minutes} min."
                ).format(minutes=f"{settings.emergency_response_minutes:g}"),
            )
        elif switch == "off":
            ended = await emergencies.end(message.from_user.id, message.date)
            desk.answer(
                message,
                _("Emergency ended: new tickets are back to {minutes} min.").format(
                    minutes=f"{settings.first_response_minutes:g}"
                )
                if ended
                else _("There is no emergency declared."),
            )
        else:
            desk.answer(message, _("Write it as: /emergency on [NOTE] or /emergency off"))

    @router.message(Command("board"))
    async def board(message: Message, session: AsyncSession, desk: Desk) -> None:
        scanner = SlaClockScanner(session, settings.sla_config())
        desk.answer(message, board_text(await scanner.board(), desk, datetime.now(UTC)))

    @router.message(Command("report"))
    async def report(
        message: Message, command: CommandObject, session: AsyncSession, desk: Desk
    ) -> None:
        parsed = parse_month_argument(command.args)
        if isinstance(parsed, ParseError):
            desk.answer(
                message,
                _("«{value}» is not a month. Write it as: /report [YYYY-MM]").format(
                    value=parsed.value
                ),
            )
            return
        month = parsed or previous_month(datetime.now(UTC), settings.zone)
        # Only the request is written here: the report is built outside this transaction.
        request_report(desk.outbox, message.chat.id, month, locale=desk.i18n.current_locale)

    return router


def explain_maintenance(error: ParseError) -> str:
    reasons = {
        "maintenance_arguments": _("The service, start, end and text are needed."),
        "maintenance_target": _("«{value}» is neither a service id nor «all»."),
        "bad_moment": _("«{value}» is not a local time YYYY-MM-DD HH:MM."),
        "maintenance_order": _("The end must be after the start."),
        "missing_text": _("The text for the clients is missing."),
    }
    return reasons[error.reason].format(value=error.value)
