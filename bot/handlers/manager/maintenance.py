"""`/maintenance SERVICE_ID|all START END TEXT`, `/maintenance list`, `/maintenance cancel ID`."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.commands import ParseError, parse_maintenance
from bot.desk import Desk
from bot.handlers.manager import manager_router
from bot.notices import tell
from bot.notices.accounts import service_label, window_span
from bot.notices.engineers import tell_engineers
from bot.settings import BotSettings
from bot.texts import MAINTENANCE_USAGE, explain_maintenance
from crm.maintenance import MaintenanceService
from crm.usecases.maintenance import MaintenancePlan, cancel_maintenance, plan_maintenance


async def maintenance(
    message: Message, command: CommandObject, maintenance: MaintenanceService, desk: Desk
) -> None:
    action, _sep, rest = (command.args or "").strip().partition(" ")
    if action == "list":
        await list_windows(message, maintenance, desk)
    elif action == "cancel":
        await cancel(message, rest.strip(), maintenance, desk)
    else:
        await plan(message, command.args, maintenance, desk)


async def list_windows(message: Message, maintenance: MaintenanceService, desk: Desk) -> None:
    """`#1 · rack-1 (Steppe Cloud LLP) · 2026-12-03 01:00 – 03:00 Asia/Almaty · text`."""
    windows = await maintenance.upcoming_with_services(message.date)
    if not windows:
        desk.answer(message, _("No planned maintenance."))
        return
    lines = [
        f"#{window.id} · {service_label(service)} · "
        f"{window_span(desk, window.starts_at, window.ends_at)} · {window.description}"
        for window, service in windows
    ]
    desk.answer(message, "\n".join(lines))


async def cancel(
    message: Message, argument: str, maintenance: MaintenanceService, desk: Desk
) -> None:
    if not argument.isdigit():
        desk.answer(message, _("Write it as: /maintenance cancel ID"))
        return
    outcome = await cancel_maintenance(maintenance, int(argument), message.date)
    await tell(desk, outcome, message)
    tell_engineers(desk, outcome)


async def plan(
    message: Message, args: str | None, maintenance: MaintenanceService, desk: Desk
) -> None:
    assert message.from_user is not None
    parsed = parse_maintenance(args, desk.zone)
    if isinstance(parsed, ParseError):
        desk.answer(
            message,
            explain_maintenance(parsed)
            + "\n"
            + _("Write it as: {usage}").format(usage=MAINTENANCE_USAGE)
            + "\n/maintenance list · /maintenance cancel ID",
        )
        return
    request = MaintenancePlan(
        parsed.service_id,
        parsed.starts_at,
        parsed.ends_at,
        parsed.text,
        message.from_user.id,
        requested_at=message.date,
    )
    await tell(desk, outcome := await plan_maintenance(maintenance, request), message)
    tell_engineers(desk, outcome)


def get_router(settings: BotSettings) -> Router:
    router = manager_router("manager_maintenance", settings)
    router.message.register(maintenance, Command("maintenance"))
    return router
