"""The desk an operator watches, through the real ``python -m bot`` process in polling mode:
/healthz answers 200 and /metrics counts the update handled and the messages sent; a desk
started more than 20 hours after it was last known alive tells the managers which span of
client messages Telegram may have dropped, and one started after 19 hours says nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.db import rows
from tests.e2e.harness import MANAGER_ID, BotProcess, BotProcessFactory, free_port
from tests.e2e.harness import eventually as eventually_within
from tests.fake_bot_api import FakeBotAPI

CLIENT_ID = 700001
WAIT = 20.0
# This file's scenarios wait longer than the harness's default.
eventually = partial(eventually_within, timeout=WAIT)
QUICK_STOP = {"POLLING_TIMEOUT_SECONDS": "1", "SHUTDOWN_GRACE_SECONDS": "3"}


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    """Samples by name and their sorted labels, as a scrape shows them."""
    async with http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_polling_desk_is_healthy_and_its_metrics_count_updates_and_sends(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = bot_process_factory(
        env={"HTTP_PORT": str(port), "POLLING_TIMEOUT_SECONDS": "1", "SHUTDOWN_GRACE_SECONDS": "3"}
    )
    await bot.start()
    await bot.wait_http(base + "/healthz")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        before = await metrics(http, base + "/metrics")
        assert before[("desk_updates_handled_total", "result=ok")] == 0
        fake_api.push_update(
            fake_api.private_message(CLIENT_ID, "the VPS does not boot", first_name="Aigerim")
        )

        async def counted() -> bool:
            now = await metrics(http, base + "/metrics")
            topics = now.get(("desk_outbox_sends_total", "method=createForumTopic,result=ok"), 0)
            copies = now.get(("desk_outbox_sends_total", "method=copyMessage,result=ok"), 0)
            handled = now[("desk_updates_handled_total", "result=ok")]
            return handled >= 1 and topics >= 1 and copies >= 1

        await eventually(counted, bot, fake_api, "/metrics counted the update and its sends")

        async with http.get(base + "/healthz") as response:
            assert response.status == 200, await response.text()
            body = await response.json()
    assert body["checks"]["updates"] == "polling"
    assert await bot.stop() == 0


async def start_after_a_stop_of(hours: float, bot: BotProcess) -> datetime:
    """Runs the desk once (it stamps itself alive), moves that stamp `hours` back as if the
    desk had been down since, and starts it again; returns the moved stamp."""
    await bot.start()
    assert await bot.stop() == 0
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)
    stored: object = moment
    if bot.database_url.startswith("sqlite"):
        stored = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    moved = rows(
        bot.database_url,
        "UPDATE job_runs SET done_at = ? WHERE job = 'desk_alive' RETURNING id",
        (stored,),
    )
    assert len(moved) == 1
    # The check runs before the first getUpdates: once the desk polls, it has decided.
    await bot.start()
    return moment


async def test_a_desk_down_for_21_hours_tells_the_managers_what_may_be_lost(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    bot = bot_process_factory(env=QUICK_STOP)
    since = await start_after_a_stop_of(21, bot)

    def warned() -> list[str]:
        texts = [m.text or "" for m in fake_api.sent_to(MANAGER_ID)]
        return [text for text in texts if "not running" in text]

    async def arrived() -> bool:
        return bool(warned())

    await eventually(arrived, bot, fake_api, "the managers were warned")
    local = since.astimezone(ZoneInfo("Asia/Almaty")).strftime("%Y-%m-%d %H:%M")
    (text,) = warned()
    assert f"from {local} to " in text and "(Asia/Almaty)" in text
    assert any(
        "updates_may_be_lost" in line and "error" in line for line in bot.output().splitlines()
    )


async def test_a_desk_down_for_19_hours_warns_nobody(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    bot = bot_process_factory(env=QUICK_STOP)
    since = await start_after_a_stop_of(19, bot)
    assert bot.query("SELECT count(*) FROM outbox WHERE chat_id = ?", (MANAGER_ID,)) == [(0,)]
    (stamp,) = bot.query("SELECT done_at FROM job_runs WHERE job = 'desk_alive'")[0]
    assert datetime.fromisoformat(stamp).replace(tzinfo=UTC) > since + timedelta(hours=18)
    assert "updates_may_be_lost" not in bot.output()
