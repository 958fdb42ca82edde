"""The HTTP side, one aiohttp app: Telegram's webhook, the Alertmanager endpoint, and what
an operator watches (/healthz, /metrics)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk
from bot.metrics import CONTENT_TYPE, DeskMetrics, Heartbeat, health
from bot.middlewares import ticket_service
from bot.notices.outages import room_card
from bot.settings import BotSettings
from crm.errors import CrmError
from crm.incidents import IncidentService
from crm.monitoring import (
    AppliedSignal,
    MonitoringInputError,
    MonitoringService,
    alertmanager_group,
    parse_alertmanager,
)
from crm.outbox import Outbox
from crm.usecases.notices import OutageNoticed

log = structlog.get_logger()

ALERTMANAGER_PATH = "/monitoring/alertmanager"
# Added to three polling timeouts: a batch being handled holds the loop for a while too.
POLL_SLACK_SECONDS = 30


def tell_room(desk: Desk, applied: AppliedSignal) -> None:
    """A monitoring record opens its incident's room, or is posted in the room it joined;
    a repeated notification says nothing."""
    if not applied.new:
        return
    if applied.opened:
        noticed = OutageNoticed(
            applied.incident, None, "monitoring", applied.signal.starts_at, opened=True
        )
        card = monitoring_notice(applied, desk) + "\n\n" + room_card(desk, noticed)
        desk.open_room(applied.incident, card)
        return
    desk.post_to_room(applied.incident, monitoring_notice(applied, desk))


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


def add_watch_routes(
    app: web.Application,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    metrics: DeskMetrics,
    heartbeat: Heartbeat | None,
) -> None:
    """`/healthz` and `/metrics`, open to whoever reaches HTTP_HOST:HTTP_PORT: they show
    counts and ages, never a message or a name."""
    # getUpdates answers within its timeout; a few of them missed means the loop is stuck.
    heartbeat_max_age = 3 * settings.polling_timeout_seconds + POLL_SLACK_SECONDS

    async def healthz(_request: web.Request) -> web.Response:
        verdict = await health(
            sessionmaker,
            metrics,
            datetime.now(UTC),
            heartbeat=heartbeat,
            heartbeat_max_age=heartbeat_max_age,
            outbox_max_age=settings.health_outbox_max_age_seconds,
        )
        return web.json_response(verdict, status=200 if verdict["ok"] else 503)

    async def scrape(_request: web.Request) -> web.Response:
        body = await metrics.scrape(sessionmaker, datetime.now(UTC))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", scrape)


def make_web_app(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_commit: Callable[[], None],
    dispatcher: Dispatcher | None = None,
    bot: Bot | None = None,
    *,
    metrics: DeskMetrics | None = None,
    heartbeat: Heartbeat | None = None,
) -> web.Application:
    """`heartbeat` is the poll loop's in polling mode; None means updates come by webhook."""
    app = web.Application()
    add_watch_routes(app, settings, sessionmaker, metrics or DeskMetrics(), heartbeat)

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
                # One notification of a group: one outage, an incident per service.
                group = alertmanager_group(payload)
                applied = await MonitoringService(session).apply(signals, group)
            except CrmError as error:
                return web.json_response(
                    {"error": f"unknown service_id {error.params.get('service_id')}"}, status=400
                )
            desk = Desk(settings, ticket_service(session, settings), Outbox(session), i18n)
            for item in applied:
                await session.refresh(item.incident, ["service", "lead"])
                tell_room(desk, item)
            fresh = [item.incident for item in applied if item.new]
            incidents = IncidentService(session)
            for lead in {i.lead.id: i.lead for i in fresh if i.lead is not None}.values():
                desk.outage_grew(lead, await incidents.outage_members(lead), fresh)
            await session.commit()
        on_commit()
        log.info("monitoring_applied", alerts=len(applied))
        return web.json_response(
            {
                "incidents": [
                    {
                        "incident_id": a.incident.id,
                        "opened": a.opened,
                        "outage_id": a.incident.outage_id or a.incident.id,
                    }
                    for a in applied
                ]
            }
        )

    app.router.add_post(ALERTMANAGER_PATH, alertmanager)
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
