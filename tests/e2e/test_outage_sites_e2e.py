"""Issue 10 end to end: a data centre goes dark. One Alertmanager notification with five
alerts of one group (five services at DC1, two customers) opens ONE room with an incident
per service; a confirmation and a restoration there act on each of them, and each service's
downtime stays its own in the monthly report.

The real ``python -m bot`` process (polling, with its HTTP server) against the fake Bot API.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcessFactory, free_port
from tests.e2e.test_outage_rooms_e2e import TOKEN, in_room, room_of, utc
from tests.e2e.test_sla_report_e2e import (
    BOT_ENV,
    ENGINEER_ID,
    crm_json,
    expect_sent,
    local,
    report_json,
)
from tests.fake_bot_api import FakeBotAPI

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GROUP = '{}/{}:{site="DC1"}'


async def five_services_at_dc1(bot: Any) -> list[int]:
    ids = []
    for customer_name, count in (("Steppe Cloud LLP", 3), ("Altyn Bank", 2)):
        customer = (await crm_json(bot, "customer", "add", customer_name))["customer"]
        for _number in range(count):
            service = (
                await crm_json(
                    bot, "service", "add", f"--customer={customer['id']}", "--type=dedicated",
                    "--fee=150000", f"--name=rack-{len(ids) + 1}", "--since=2026-01-01",
                    "--site=DC1",
                )
            )["service"]  # fmt: skip
            assert service["site"] == "DC1"
            ids.append(int(service["id"]))
    return ids


async def notify(port: int, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.post(
            f"http://127.0.0.1:{port}/monitoring/alertmanager",
            json={"status": "firing", "groupKey": GROUP, "alerts": alerts},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def test_five_services_down_at_one_site_open_one_room_and_act_as_one_outage(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    api, port = fake_api, free_port()
    bot = bot_process_factory(env={**BOT_ENV, "HTTP_PORT": str(port), "MONITORING_TOKEN": TOKEN})
    services = await five_services_at_dc1(bot)
    api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    await bot.start()
    await bot.wait_http(f"http://127.0.0.1:{port}/healthz")

    start = local("2026-10-09 10:00")
    alerts = [
        {
            "status": "firing",
            "labels": {"service_id": str(service), "site": "DC1"},
            "startsAt": utc(start),
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"dc1-{service}",
        }
        for service in services
    ]
    answer = await notify(port, alerts)
    assert {item["outage_id"] for item in answer["incidents"]} == {1}
    await notify(port, alerts)  # Alertmanager repeats itself: nothing new
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "⚡ Outage #5: service 5", since=0)
    room = room_of(api, 1)

    mark = len(api.sent)
    in_room(api, "/confirm hardware", room, local("2026-10-09 10:10"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "✅ Outage #5 confirmed", since=mark)
    mark = len(api.sent)
    in_room(api, "/restored 11:00", room, local("2026-10-09 11:05"))
    await expect_sent(api, bot, SUPPORT_CHAT_ID, "🟢 Outage #5 restored", since=mark)

    rooms = [r for r in api.requests_of("createForumTopic") if "Outage" in str(r.params["name"])]
    assert len(rooms) == 1
    assert bot.query(
        "select service_id, outage_id, status, restored_at is not null from incidents order by id"
    ) == [
        (services[0], None, "confirmed", 1),
        *[(service, 1, "confirmed", 1) for service in services[1:]],
    ]
    # Per service, its own downtime: each of the five reads 60 minutes.
    report = await report_json(bot, "2026-10")
    assert [s["downtime_minutes"] for s in report["services"]] == [60] * 5
