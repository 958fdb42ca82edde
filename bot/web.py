"""The HTTP side: Telegram's webhook and the monitoring endpoint, one aiohttp app."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import structlog
from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk
from bot.middlewares import ticket_service
from bot.settings import BotSettings
from crm.errors import CrmError
from crm.models import Purpose
from crm.monitoring import (
    AppliedSignal,
    MonitoringInputError,
    MonitoringService,
    parse_alertmanager,
)
from crm.outbox import Outbox

log = structlog.get_logger()

ALERTMANAGER_PATH = "/monitoring/alertmanager"


def monitoring_notice(applied: AppliedSignal, desk: Desk) -> str:
    t = desk.engineer_text
    incident = applied.incident
    service = incident.service
    values = {
        "incident": incident.id,
        "service_id": service.id,
        "name": service.name,
        "customer": service.customer.name,
        "start": desk.local(applied.signal.starts_at),
        "end": desk.local(applied.signal.ends_at),
    }
    if applied.signal.ends_at is not None:
        return t(
            "📈 Monitoring: service {service_id} «{name}» ({customer}) is back at {end}; "
            "outage #{incident} since {start}."
        ).format(**values)
    return t(
        "📈 Monitoring: service {service_id} «{name}» ({customer}) is down since {start}; "
        "outage #{incident}."
    ).format(**values)


def make_web_app(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_commit: Callable[[], None],
    dispatcher: Dispatcher | None = None,
    bot: Bot | None = None,
) -> web.Application:
    app = web.Application()

    async def alertmanager(request: web.Request) -> web.Response:
        token = settings.monitoring_token.get_secret_value() if settings.monitoring_token else ""
        offered = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(offered, f"Bearer {token}"):
            return web.json_response({"error": "a valid bearer token is required"}, status=401)
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        try:
            signals = parse_alertmanager(payload, settings.monitoring_service_label)
        except MonitoringInputError as error:
            return web.json_response({"error": str(error)}, status=400)
        async with sessionmaker() as session:
            try:
                applied = await MonitoringService(session).apply(signals)
            except CrmError as error:
                return web.json_response(
                    {"error": f"unknown service_id {error.params.get('service_id')}"}, status=400
                )
            desk = Desk(settings, ticket_service(session, settings), Outbox(session), i18n)
            for item in applied:
                await session.refresh(item.incident, ["service"])
                desk.send_to(
                    settings.support_chat_id, monitoring_notice(item, desk), Purpose.MONITORING
                )
            await session.commit()
        on_commit()
        log.info("monitoring_applied", alerts=len(applied))
        return web.json_response(
            {"incidents": [{"incident_id": a.incident.id, "opened": a.opened} for a in applied]}
        )

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post(ALERTMANAGER_PATH, alertmanager)
    app.router.add_get("/healthz", health)
    if settings.webhook_url and dispatcher is not None and bot is not None:
        # Not in the background: Telegram gets 200 only once the update is committed, so a
        # crash mid-update makes Telegram deliver it again.
        SimpleRequestHandler(
            dispatcher=dispatcher,
            bot=bot,
            secret_token=settings.webhook_secret.get_secret_value()
            if settings.webhook_secret
            else None,
            handle_in_background=False,
        ).register(app, path=settings.webhook_path)
    return app
