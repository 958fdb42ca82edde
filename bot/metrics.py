"""What the desk shows an operator: Prometheus metrics and the health verdict.

Every app builds its own registry at start (nothing at import time), so a test process can
hold several desks, each counting only its own work. Counters are moved where things
happen (the poller, the outbox worker, the clock scan); what lives in the database (the
outbox backlog, open outages) is read at scrape time, so several instances agree on it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.models import Purpose
from crm.watch import PendingKind, database_answers, open_incidents, pending_outbox

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DeskMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.updates = Counter(
            "desk_updates_handled",
            "Telegram updates handled, by result (ok, failed, duplicate).",
            ["result"],
            registry=registry,
        )
        self.sends = Counter(
            "desk_outbox_sends",
            "Bot API calls made by the outbox worker, by method and result "
            "(ok, 429, 5xx, network, permanent).",
            ["method", "result"],
            registry=registry,
        )
        self.clocks_running = Gauge(
            "desk_sla_clocks_running",
            "SLA clocks running at the last scan.",
            registry=registry,
        )
        self.alerts_raised = Counter(
            "desk_sla_alerts_raised",
            "SLA alerts raised by the clock scan, by kind (warning, breach, escalation).",
            ["kind"],
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "desk_outbox_pending",
            "Outbox rows waiting to be sent, by purpose (read at scrape time).",
            ["purpose"],
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "desk_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox row that could be sent now (0: none).",
            registry=registry,
        )
        self.open_incidents = Gauge(
            "desk_open_incidents",
            "Outages reported or confirmed and not restored (read at scrape time).",
            registry=registry,
        )
        for purpose in Purpose:
            # Every kind shows from the first scrape, so a rule sees 0 rather than nothing.
            self.outbox_pending.labels(purpose=purpose.value)
        for result in ("ok", "failed", "duplicate"):
            self.updates.labels(result=result)

    def show_outbox(self, kinds: list[PendingKind], now: datetime) -> float:
        """Sets the backlog gauges; returns the oldest sendable row's age in seconds."""
        counts = {kind.purpose: kind.count for kind in kinds}
        for purpose in Purpose:
            self.outbox_pending.labels(purpose=purpose.value).set(counts.get(purpose, 0))
        oldest = min((k.oldest_sendable for k in kinds if k.oldest_sendable), default=None)
        age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        self.outbox_oldest_age.set(age)
        return age

    async def scrape(self, sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> bytes:
        async with sessionmaker() as session:
            self.show_outbox(await pending_outbox(session, now), now)
            self.open_incidents.set(await open_incidents(session))
        return generate_latest(self.registry)


@dataclass
class Heartbeat:
    """The poll loop stamps it after each answer from getUpdates (monotonic time)."""

    stamped: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    def beat(self) -> None:
        self.stamped = self.clock()

    def age(self) -> float | None:
        return None if self.stamped is None else self.clock() - self.stamped


class UpdateCounter(BaseMiddleware):
    """Outermost update middleware: counts each update by how its handling ended.

    The database middleware returns DUPLICATE for an update id it has seen, so a replay
    is told apart from work done.
    """

    def __init__(self, metrics: DeskMetrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        try:
            result = await handler(event, data)
        except Exception:
            self.metrics.updates.labels(result="failed").inc()
            raise
        duplicate = data.get("duplicate_update", False)
        self.metrics.updates.labels(result="duplicate" if duplicate else "ok").inc()
        return result


async def health(
    sessionmaker: async_sessionmaker[AsyncSession],
    metrics: DeskMetrics,
    now: datetime,
    *,
    heartbeat: Heartbeat | None,
    heartbeat_max_age: float,
    outbox_max_age: float,
) -> dict[str, Any]:
    """The verdict /healthz gives: every check's state and the reasons it is not ok.

    `heartbeat` is None in webhook mode: a request reaching this code is the proof that
    the webhook server serves.
    """
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    try:
        async with sessionmaker() as session:
            await database_answers(session)
            age = metrics.show_outbox(await pending_outbox(session, now), now)
        checks["database"] = "ok"
        checks["outbox_oldest_pending_seconds"] = round(age, 1)
        if age > outbox_max_age:
            reasons.append(f"the oldest sendable outbox row waits for {age:.0f} s")
    except Exception as error:
        checks["database"] = "unreachable"
        reasons.append(f"the database does not answer: {type(error).__name__}")
    if heartbeat is None:
        checks["updates"] = "webhook"
    else:
        beat_age = heartbeat.age()
        checks["poller_last_seen_seconds"] = None if beat_age is None else round(beat_age, 1)
        if beat_age is None:
            reasons.append("the poller has not polled yet")
        elif beat_age > heartbeat_max_age:
            reasons.append(f"the poller was last seen {beat_age:.0f} s ago")
        checks["updates"] = "polling"
    return {"ok": not reasons, "checks": checks, "reasons": reasons}
