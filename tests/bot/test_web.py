"""The HTTP side: Alertmanager evidence and the webhook's secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiogram.utils.i18n import I18n
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import BotSettings
from bot.web import ALERTMANAGER_PATH, make_web_app
from crm.customers import CustomerService
from crm.models import ServiceType
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

TOKEN = "monitoring-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK_PATH = "/telegram/webhook"


def alert(status: str, starts: str, ends: str = "0001-01-01T00:00:00Z", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HostDown", "service_id": "1", **labels},
        "startsAt": starts,
        "endsAt": ends,
        "fingerprint": "c0ffee",
    }


@pytest.fixture
async def client(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    dispatcher: Desk,
    bot: MockedBot,
) -> AsyncIterator[TestClient[Any, Any]]:
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        await crm.add_service(customer.id, ServiceType.OBJECT_STORAGE, Decimal("90000"))
        await session.commit()
    settings = settings.model_copy(
        update={
            "monitoring_token": SecretStr(TOKEN),
            "webhook_url": "https://desk.example/telegram/webhook",
            "webhook_secret": SecretStr("s3cret"),
        }
    )
    app = make_web_app(
        settings, sessionmaker, i18n, dispatcher.worker.kick, dispatcher.dispatcher, bot
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_a_firing_alert_opens_an_incident_at_its_start_and_resolved_ends_it(
    client: TestClient[Any, Any], database_url: str, dispatcher: Desk, bot: MockedBot
) -> None:
    firing = {"status": "firing", "alerts": [alert("firing", "2026-10-05T03:00:00.123456789Z")]}
    response = await client.post(ALERTMANAGER_PATH, json=firing, headers=AUTH)
    assert response.status == 200
    assert (await response.json()) == {
        "incidents": [{"incident_id": 1, "opened": True, "outage_id": 1}]
    }
    # Alertmanager repeats itself: the same alert again changes nothing.
    assert (await client.post(ALERTMANAGER_PATH, json=firing, headers=AUTH)).status == 200

    resolved = {
        "alerts": [alert("resolved", "2026-10-05T03:00:00.123456789Z", "2026-10-05T03:40:00Z")]
    }
    assert (await client.post(ALERTMANAGER_PATH, json=resolved, headers=AUTH)).status == 200

    assert rows(
        database_url, "select service_id, monitoring_start_at, monitoring_end_at from incidents"
    ) == [(1, "2026-10-05 03:00:00.123456", "2026-10-05 03:40:00.000000")]
    assert rows(database_url, "select kind, actor_role from incident_events order by id") == [
        ("monitoring_firing", "monitoring"),
        ("monitoring_resolved", "monitoring"),
    ]
    await dispatcher.worker.drain()
    notices = [m.text for m in bot.session.sent("sendMessage") if m.chat_id == SUPPORT_CHAT_ID]
    assert any("is down since 2026-10-05 08:00" in text for text in notices)
    assert any("is back at 2026-10-05 08:40" in text for text in notices)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"nope": 1}, "'alerts' list"),
        ({"alerts": [alert("pending", "2026-10-05T03:00:00Z")]}, "status"),
        ({"alerts": [alert("firing", "yesterday")]}, "not an ISO 8601 time"),
        ({"alerts": [alert("firing", "2026-10-05T03:00:00")]}, "no UTC offset"),
        ({"alerts": [alert("resolved", "2026-10-05T03:00:00Z")]}, "needs its end"),
        ({"alerts": [alert("firing", "2026-10-05T03:00:00Z", service_id="x")]}, "service id"),
        (
            {
                "alerts": [
                    alert("firing", "2026-10-05T03:00:00Z"),
                    alert("firing", "2026-10-05T03:00:00Z", service_id="99"),
                ]
            },
            "unknown service_id 99",
        ),
    ],
)
async def test_a_malformed_payload_is_refused_with_the_reason_and_writes_nothing(
    client: TestClient[Any, Any], database_url: str, payload: dict, reason: str
) -> None:
    response = await client.post(ALERTMANAGER_PATH, json=payload, headers=AUTH)
    assert response.status == 400
    assert reason in (await response.json())["error"]
    assert rows(database_url, "select count(*) from incidents") == [(0,)]


async def test_a_wrong_monitoring_token_gets_401(
    client: TestClient[Any, Any], database_url: str
) -> None:
    payload = {"alerts": [alert("firing", "2026-10-05T03:00:00Z")]}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.post(ALERTMANAGER_PATH, json=payload, headers=headers)
        assert response.status == 401
    assert rows(database_url, "select count(*) from incidents") == [(0,)]


async def test_webhook_updates_need_the_secret(
    client: TestClient[Any, Any], database_url: str, updates: Updates
) -> None:
    update = updates.private(700001, "hello").model_dump(mode="json", exclude_none=True)
    wrong = await client.post(
        WEBHOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
    )
    assert wrong.status == 401
    assert rows(database_url, "select count(*) from tickets") == [(0,)]

    right = await client.post(
        WEBHOOK_PATH, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    )
    assert right.status == 200
    assert rows(database_url, "select count(*) from tickets") == [(1,)]
