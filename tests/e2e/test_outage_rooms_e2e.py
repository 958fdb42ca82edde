"""Issue 9 end to end: one provider event reported by monitoring and two clients, a repeat
outage in a reopened ticket, and the monthly JSON report checked to the cent.

The real ``python -m bot`` process (polling, with its HTTP server for the Alertmanager
webhook) runs against the fake Bot API. Expected figures are worked out by hand from the
terms, never by calling ``sla``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory, free_port
from tests.e2e.test_sla_report_e2e import (
    BOT_ENV,
    ENGINEER_ID,
    crm_json,
    expect_sent,
    local,
    report_json,
    unix,
)
from tests.fake_bot_api import FakeBotAPI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AIGERIM, BOLAT = 700001, 700002
TOKEN = "tok"


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def said_by(api: FakeBotAPI, user: int, name: str, text: str, at: datetime) -> None:
    api.push_update(api.private_message(user, text, first_name=name, date=unix(at)))


def in_room(api: FakeBotAPI, text: str, room: int, at: datetime) -> None:
    api.push_update(
        api.group_message(
            SUPPORT_CHAT_ID, ENGINEER_ID, text, thread_id=room, first_name="Dana", date=unix(at)
        )
    )


def room_of(api: FakeBotAPI, incident: int) -> int:
    """The thread of the forum topic the bot opened for incident #n."""
    rooms = [
        r
        for r in api.requests_of("createForumTopic")
        if str(r.params.get("name", "")).startswith(f"Outage #{incident} ")
    ]
    assert len(rooms) == 1, [r.summary() for r in api.requests_of("createForumTopic")]
    return int(rooms[0].result["message_thread_id"])


async def desk_with_two_colleagues(
    factory: BotProcessFactory, api: FakeBotAPI, port: int
) -> tuple[BotProcess, int]:
    # The group's budget raised: what reaches the room, not when, is checked here.
    limits = {"OUTBOX_GROUP_PER_MINUTE": "100000", "OUTBOX_OVERALL_PER_SECOND": "1000"}
    bot = factory(env={**BOT_ENV, **limits, "HTTP_PORT": str(port), "MONITORING_TOKEN": TOKEN})
    customer = (await crm_json(bot, "customer", "add", "Steppe Cloud LLP"))["customer"]
    service = (
        await crm_json(
            bot, "service", "add", f"--customer={customer['id']}", "--type=dedicated",
            "--fee=150000", "--name=rack-1", "--since=2026-01-01",
        )
    )["service"]  # fmt: skip
    token = (await crm_json(bot, "invite", "--customer", str(customer["id"])))["token"]
    api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    await bot.start()
    await bot.wait_http(f"http://127.0.0.1:{port}/healthz")
    for user, name in ((AIGERIM, "Aigerim"), (BOLAT, "Bolat")):
        mark = len(api.sent)
        await said_by(api, user, name, f"/start {token}", local("2026-10-09 09:00"))
        await expect_sent(api, bot, user, "linked to Steppe Cloud LLP", since=mark)
    return bot, int(service["id"])


async def monitoring_blip(port: int, service_id: int) -> None:
    """Monitoring saw rack-1 down 9 October 10:00–12:00 local: 120 minutes, its own data."""
    alert: dict[str, Any] = {
        "status": "resolved",
        "labels": {"service_id": str(service_id)},
        "startsAt": utc(local("2026-10-09 10:00")),
        "endsAt": utc(local("2026-10-09 12:00")),
        "fingerprint": "blip",
    }
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.post(
            f"http://127.0.0.1:{port}/monitoring/alertmanager",
            json={"alerts": [alert]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()


async def test_reports_of_one_outage_gather_in_its_room_and_each_minute_counts_once(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    port = free_port()
    bot, service_id = await desk_with_two_colleagues(bot_process_factory, fake_api, port)
    api = fake_api

    # 1. Monitoring alone: incident #1 and its room, counted on the provider's own data.
    mark = len(api.sent)
    await monitoring_blip(port, service_id)
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "⚡ Outage #1: service", since=mark)

    # 2. Aigerim reports the next day: #1 is over, so this is a new outage, #2.
    mark = len(api.sent)
    await said_by(api, AIGERIM, "Aigerim", "/down", local("2026-10-10 10:00"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "⚡ Outage #2: service", since=mark)
    room = room_of(api, 2)
    # 3. Bolat reports the same outage ten minutes later: it joins #2, no room of its own.
    mark = len(api.sent)
    await said_by(api, BOLAT, "Bolat", "/down", local("2026-10-10 10:10"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "#2 · Bolat · Steppe Cloud LLP: /down", since=mark)

    # 4. Confirmed in the room: both clients hear the downtime counts from the first report.
    mark = len(api.sent)
    in_room(api, "/confirm hardware", room, local("2026-10-10 10:15"))
    counts = "It counts as downtime from 2026-10-10 10:00."
    await expect_sent(api, bot, AIGERIM, counts, since=mark)
    await expect_sent(api, bot, BOLAT, counts, since=mark)

    # 5. Restored at 14:00 (240 minutes); a second /restored is refused, the end unchanged.
    mark = len(api.sent)
    in_room(api, "/restored 14:00", room, local("2026-10-10 14:05"))
    await expect_sent(api, bot, BOLAT, "Counted downtime: 4 hours", since=mark)
    mark = len(api.sent)
    in_room(api, "/restored", room, local("2026-10-10 14:30"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "already restored at 2026-10-10 14:00", since=mark)

    # 6. Aigerim's ticket is resolved, then she reports again on the 12th: the ticket
    #    reopens and the outage is a new one, #3 (90 minutes), not the restored #2 again.
    ticket_topic = int(api.requests_of("createForumTopic")[1].result["message_thread_id"])
    mark = len(api.sent)
    in_room(api, "/resolve", ticket_topic, local("2026-10-10 14:40"))
    await expect_sent(api, bot, AIGERIM, "#1", since=mark)
    mark = len(api.sent)
    await said_by(api, AIGERIM, "Aigerim", "/down", local("2026-10-12 09:00"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "⚡ Outage #3: service", since=mark)
    third = room_of(api, 3)
    mark = len(api.sent)
    in_room(api, "/confirm network", third, local("2026-10-12 09:05"))
    in_room(api, "/restored 10:30", third, local("2026-10-12 10:31"))
    await expect_sent(api, bot, AIGERIM, "Counted downtime: 90 minutes", since=mark)

    report = await report_json(bot, "2026-10")
    (service,) = report["services"]
    # October: 31 × 24 × 60 = 44640 active minutes; 120 + 240 + 90 = 450 down.
    # (44640 − 450) / 44640 = 98.99193…% → truncated 98.9919, the [95, 99) row: 10 %
    # of 150000.00 = 15000.00.
    assert {k: service[k] for k in (
        "active_minutes", "downtime_minutes", "availability_percent", "tier",
        "credit_percent", "credit_amount",
    )} == {
        "active_minutes": 44640, "downtime_minutes": 450, "availability_percent": 98.9919,
        "tier": "major", "credit_percent": 10.0, "credit_amount": "15000.00",
    }  # fmt: skip
    assert [
        (i["incident_id"], i["ticket_number"], i["counted_minutes"]) for i in service["incidents"]
    ] == [(1, None, 120.0), (2, 1, 240.0), (3, 1, 90.0)]
    assert bot.query(
        "SELECT incident_id, source, ticket_id FROM incident_notices WHERE source = 'client'"
        " ORDER BY id"
    ) == [(2, "client", 1), (2, "client", 2), (3, "client", 1)]
