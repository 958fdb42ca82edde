"""Alertmanager groups (issue 10): one notification with several alerts of one group opens
one outage, an incident per service, and one room; a repeated notification adds nothing."""

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
from tests.bot.test_web import AUTH, TOKEN
from tests.conftest import SUPPORT_CHAT_ID, Desk
from tests.db import rows
from tests.mocked_bot import MockedBot

GROUP = '{}/{}:{site="DC1"}'


def alert(service_id: int, status: str = "firing", ends: str = "0001-01-01T00:00:00Z") -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HostDown", "service_id": str(service_id), "site": "DC1"},
        "startsAt": f"2026-10-05T03:0{service_id}:00Z",
        "endsAt": ends,
        "fingerprint": f"fp{service_id}",
    }


def notification(*alerts: dict) -> dict:
    return {"status": "firing", "groupKey": GROUP, "alerts": list(alerts)}


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
        for name in ("Steppe Cloud LLP", "Altyn Bank"):
            customer = await crm.add_customer(name)
            for _number in range(2):
                service = await crm.add_service(customer.id, ServiceType.DEDICATED, Decimal("1"))
                service.site = "DC1"
        await session.commit()
    settings = settings.model_copy(update={"monitoring_token": SecretStr(TOKEN)})
    app = make_web_app(settings, sessionmaker, i18n, dispatcher.worker.kick)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_one_grouped_notification_opens_one_room_with_an_incident_per_service(
    client: TestClient[Any, Any], database_url: str, dispatcher: Desk, bot: MockedBot
) -> None:
    payload = notification(alert(1), alert(2), alert(3))
    response = await client.post(ALERTMANAGER_PATH, json=payload, headers=AUTH)
    assert (await client.post(ALERTMANAGER_PATH, json=payload, headers=AUTH)).status == 200
    # The group grows: Alertmanager sends it again with one alert more.
    grown = notification(alert(1), alert(2), alert(3), alert(4))
    assert (await client.post(ALERTMANAGER_PATH, json=grown, headers=AUTH)).status == 200
    await dispatcher.worker.drain()

    assert (await response.json())["incidents"] == [
        {"incident_id": 1, "opened": True, "outage_id": 1},
        {"incident_id": 2, "opened": True, "outage_id": 1},
        {"incident_id": 3, "opened": True, "outage_id": 1},
    ]
    assert rows(database_url, "select id, service_id, outage_id from incidents order by id") == [
        (1, 1, None),
        (2, 2, 1),
        (3, 3, 1),
        (4, 4, 1),
    ]
    # Named for what it gathers from the start (two customers' servers), and not renamed
    # when the group grows by one more of theirs.
    (room,) = bot.session.sent("createForumTopic")
    assert room.name == "Outage #1 · dedicated and others · several customers · DC1"
    assert bot.session.sent("editForumTopic") == []
    said = [m for m in bot.session.sent("sendMessage") if m.chat_id == SUPPORT_CHAT_ID]
    in_room = [m.text for m in said if m.message_thread_id is not None]
    assert len(in_room) == len(said)  # everything in the one room, nothing in the general topic
    for incident, service in ((1, 1), (2, 2), (3, 3), (4, 4)):
        assert sum(f"service {service} «" in t and f"outage #{incident}" in t for t in in_room) == 1


async def test_a_resolved_member_ends_its_own_incident_only(
    client: TestClient[Any, Any], database_url: str
) -> None:
    await client.post(ALERTMANAGER_PATH, json=notification(alert(1), alert(2)), headers=AUTH)
    resolved = notification(alert(1), alert(2, "resolved", "2026-10-05T03:40:00Z"))
    assert (await client.post(ALERTMANAGER_PATH, json=resolved, headers=AUTH)).status == 200

    assert rows(
        database_url, "select id, monitoring_start_at, monitoring_end_at from incidents order by id"
    ) == [
        (1, "2026-10-05 03:01:00.000000", None),
        (2, "2026-10-05 03:02:00.000000", "2026-10-05 03:40:00.000000"),
    ]
