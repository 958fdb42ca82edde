"""What an operator watches: /healthz, /metrics, the alert rules, and the warning after a
stop long enough for Telegram to have dropped updates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiogram.utils.i18n import I18n
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Heartbeat
from bot.settings import BotSettings
from bot.wakeup import check_wake_up
from bot.web import make_web_app
from crm.models import Purpose
from crm.outbox import Outbox
from crm.watch import last_alive, stamp_alive
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.mocked_bot import MockedBot

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = 700001


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def heartbeat() -> Heartbeat:
    beat = Heartbeat(clock=ManualClock())
    beat.beat()
    return beat


@pytest.fixture
async def client(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    heartbeat: Heartbeat,
) -> AsyncIterator[TestClient[Any, Any]]:
    app = make_web_app(
        settings,
        sessionmaker,
        i18n,
        dispatcher.worker.kick,
        metrics=dispatcher.metrics,
        heartbeat=heartbeat,
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def queue_row(
    sessionmaker: async_sessionmaker[AsyncSession],
    created_at: datetime,
    not_before: datetime | None = None,
) -> None:
    async with sessionmaker() as session:
        row = Outbox(session, clock=lambda: created_at).send_message(
            SUPPORT_CHAT_ID, "queued long ago", purpose=Purpose.NOTICE
        )
        row.not_before = not_before
        await session.commit()


async def scrape(client: TestClient[Any, Any]) -> dict[tuple[str, frozenset[Any]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- /healthz ---------------------------------------------------------------------------------


async def test_healthz_is_200_when_the_database_answers_the_poller_polls_and_nothing_waits(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["ok"] is True
    assert body["reasons"] == []
    assert body["checks"]["database"] == "ok"


async def test_healthz_is_503_when_a_sendable_outbox_row_is_older_than_the_threshold(
    client: TestClient[Any, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await queue_row(sessionmaker, datetime.now(UTC) - timedelta(seconds=301))
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["ok"] is False
    assert any("outbox" in reason for reason in body["reasons"])


async def test_a_row_waiting_out_telegrams_retry_after_does_not_fail_healthz(
    client: TestClient[Any, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    await queue_row(sessionmaker, now - timedelta(hours=1), not_before=now + timedelta(hours=1))
    assert (await client.get("/healthz")).status == 200


async def test_healthz_is_503_when_the_poller_was_not_seen_for_several_polling_timeouts(
    client: TestClient[Any, Any], heartbeat: Heartbeat, settings: BotSettings
) -> None:
    clock = heartbeat.clock
    assert isinstance(clock, ManualClock)
    clock.now += 3 * settings.polling_timeout_seconds + 31
    response = await client.get("/healthz")
    assert response.status == 503
    assert any("poller" in reason for reason in (await response.json())["reasons"])


# -- /metrics ---------------------------------------------------------------------------------


async def test_metrics_count_updates_by_result_and_sends_by_method_and_result(
    client: TestClient[Any, Any], dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    before = await scrape(client)
    assert value(before, "desk_updates_handled_total", result="ok") == 0
    bot.session.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    first = updates.private(CLIENT_ID, "the VPS does not boot")
    await dispatcher.feed_update(bot, first)
    await dispatcher.feed_update(bot, first)  # Telegram delivers it again

    after = await scrape(client)
    assert value(after, "desk_updates_handled_total", result="ok") == 1
    assert value(after, "desk_updates_handled_total", result="duplicate") == 1
    assert value(after, "desk_outbox_sends_total", method="sendMessage", result="429") == 1
    assert value(after, "desk_outbox_sends_total", method="sendMessage", result="ok") >= 1
    assert value(after, "desk_outbox_sends_total", method="createForumTopic", result="ok") == 1


async def test_metrics_show_the_backlog_by_purpose_and_its_oldest_age_at_scrape_time(
    client: TestClient[Any, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert value(await scrape(client), "desk_outbox_pending", purpose="notice") == 0
    await queue_row(sessionmaker, datetime.now(UTC) - timedelta(seconds=600))
    samples = await scrape(client)
    assert value(samples, "desk_outbox_pending", purpose="notice") == 1
    assert value(samples, "desk_outbox_oldest_pending_age_seconds") >= 600
    assert ("desk_open_incidents", frozenset()) in samples
    assert ("desk_sla_clocks_running", frozenset()) in samples


async def test_each_desk_counts_in_its_own_registry(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
    updates: Updates,
) -> None:
    one, other = Desk(settings, sessionmaker, i18n, bot), Desk(settings, sessionmaker, i18n, bot)
    await one.feed_update(bot, updates.private(CLIENT_ID, "hello"))
    assert one.metrics.updates.labels(result="ok")._value.get() == 1
    assert other.metrics.updates.labels(result="ok")._value.get() == 0


# -- the alert rules --------------------------------------------------------------------------


def test_the_sample_alert_rules_are_a_prometheus_rule_file_on_our_metrics() -> None:
    # PyYAML comes with the dev tools here but is no dependency of ours: skip without it.
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load((ROOT / "docs" / "prometheus-alerts.yml").read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert all(group["name"] and group["rules"] for group in document["groups"])
    names = {rule["alert"] for rule in rules}
    assert {"DeskOutboxStuck", "DeskSlaBreachesRising", "DeskDown", "DeskRateLimited"} <= names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert rule["expr"].strip() and rule["annotations"]["summary"]
    exprs = " ".join(rule["expr"] for rule in rules)
    for metric in (
        "desk_outbox_oldest_pending_age_seconds",
        "desk_sla_alerts_raised_total",
        "desk_outbox_sends_total",
        "up",
    ):
        assert metric in exprs


# -- waking up after a long stop --------------------------------------------------------------

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 11:00 in Almaty


async def wake_up_after(
    gap: timedelta,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
) -> bool:
    async with sessionmaker() as session:
        await stamp_alive(session, NOW - gap)
        await session.commit()
    announced = await check_wake_up(settings, sessionmaker, i18n, NOW)
    await dispatcher.worker.drain()
    return announced


def to_manager(bot: MockedBot) -> Callable[[], list[str]]:
    return lambda: [m.text for m in bot.session.sent("sendMessage") if m.chat_id == MANAGER_ID]


async def test_after_21_hours_down_the_managers_hear_which_span_may_have_lost_updates(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    bot: MockedBot,
) -> None:
    with structlog.testing.capture_logs() as logs:
        assert await wake_up_after(timedelta(hours=21), settings, sessionmaker, i18n, dispatcher)
    (text,) = to_manager(bot)()
    assert "from 2026-12-01 14:00 to 2026-12-02 11:00 (Asia/Almaty)" in text
    assert any(e["event"] == "updates_may_be_lost" and e["log_level"] == "error" for e in logs)
    async with sessionmaker() as session:
        assert await last_alive(session) == NOW
    # A second instance starting after the same gap stays quiet: it was announced once.
    assert not await check_wake_up(settings, sessionmaker, i18n, NOW + timedelta(seconds=5))
    await dispatcher.worker.drain()
    assert len(to_manager(bot)()) == 1


async def test_after_19_hours_down_nobody_is_warned(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    bot: MockedBot,
) -> None:
    assert not await wake_up_after(timedelta(hours=19), settings, sessionmaker, i18n, dispatcher)
    assert to_manager(bot)() == []
    async with sessionmaker() as session:
        assert await last_alive(session) == NOW


async def test_the_first_start_ever_warns_nobody_and_stamps_the_desk_alive(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    bot: MockedBot,
) -> None:
    assert not await check_wake_up(settings, sessionmaker, i18n, NOW)
    async with sessionmaker() as session:
        assert await last_alive(session) == NOW


async def test_the_warning_is_in_the_managers_language(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    bot: MockedBot,
) -> None:
    settings = settings.model_copy(update={"engineer_language": "ru"})
    await wake_up_after(timedelta(hours=30), settings, sessionmaker, i18n, dispatcher)
    (text,) = to_manager(bot)()
    assert "Деск не работал с 2026-12-01 05:00 до 2026-12-02 11:00" in text


# -- settings ---------------------------------------------------------------------------------


def test_http_port_0_turns_the_server_off_and_is_refused_with_a_webhook_or_monitoring(
    settings: BotSettings,
) -> None:
    base = {**settings.model_dump(), "_env_file": None}
    assert BotSettings(**{**base, "http_port": 0}).serves_http is False  # type: ignore[arg-type]
    for extra in (
        {"webhook_url": "https://desk.example/hook", "webhook_secret": "s3cret"},
        {"monitoring_token": "tok"},
    ):
        with pytest.raises(ValidationError, match="HTTP_PORT=0"):
            BotSettings(**{**base, "http_port": 0, **extra})  # type: ignore[arg-type]
