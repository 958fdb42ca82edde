"""A restart does not spend the support group's minute twice (the real process, SQLite or
PostgreSQL), with the fake Bot API enforcing Telegram's flood control.

The group's budget is scaled down to 6 a minute so a burst spends it within seconds. The bot
is killed (SIGKILL, no clean stop) once its first sends are recorded and started again at
once: what the outbox sent in the last minute still counts, so the group gets no more than
6 in any minute across the restart, and Telegram never has to answer 429.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory
from tests.e2e.test_live_timers_and_outbox_e2e import (
    check_rate_limits,
    deliveries_by_client,
    is_send,
    sends,
)
from tests.e2e.test_ticket_flow_e2e import eventually
from tests.fake_bot_api import FakeBotAPI, RateLimits

GROUP_PER_MINUTE = 6
ENV = {
    "POLLING_TIMEOUT_SECONDS": "1",
    "SEND_BACKOFF_SECONDS": "0.1",
    "OUTBOX_OVERALL_PER_SECOND": "30",
    "OUTBOX_PRIVATE_PER_SECOND": "1",
    "OUTBOX_GROUP_PER_MINUTE": str(GROUP_PER_MINUTE),
    # Rows held back by the spent budget cannot go out at a stop: no point waiting.
    "SHUTDOWN_GRACE_SECONDS": "0.5",
}
FIRST_CLIENT = 710000
# Bounds a failure only: the rows held back wait for the group's next minute.
DELIVERY_WAIT = 150.0


def count(bot: BotProcess, sql: str) -> int:
    return int(bot.query(sql)[0][0])


def group_sends(fake_api: FakeBotAPI) -> list[float]:
    return [r.time for r in sends(fake_api) if r.params["chat_id"] == SUPPORT_CHAT_ID]


def recorded_group_sends(bot: BotProcess) -> int:
    return count(
        bot, f"SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND chat_id = {SUPPORT_CHAT_ID}"
    )


def acknowledged(fake_api: FakeBotAPI, clients: range) -> bool:
    """Every client got the bot's answer in their private chat."""
    answered = {r.params["chat_id"] for r in sends(fake_api) if r.params["chat_id"] > 0}
    return set(clients) <= answered


@pytest.mark.slow
async def test_a_bot_killed_mid_burst_and_restarted_at_once_stays_within_the_group_budget(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    fake_api.limit_rates(RateLimits(group_per_minute=GROUP_PER_MINUTE))
    bot = await bot_process_factory(env=ENV).start()
    date = int(time.time())

    # One client writes: a topic, the ticket's card and the copy go to the group.
    fake_api.push(fake_api.private_message(FIRST_CLIENT, "msg-c0-1 disk is gone", date=date))
    await eventually(
        lambda: (
            acknowledged(fake_api, range(FIRST_CLIENT, FIRST_CLIENT + 1))
            and count(bot, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == 0
            and not any(r.status == "pending" for r in fake_api.requests if is_send(r))
        ),
        bot,
        fake_api,
        "the first ticket's sends are all recorded",
        timeout=30,
    )
    before = len(group_sends(fake_api))
    assert before == recorded_group_sends(bot)
    assert 0 < before < GROUP_PER_MINUTE, "the first ticket alone spent the group's budget"

    bot.kill()
    assert await bot.wait() != 0
    await bot.start()

    # More clients write right after the restart: far more group sends than the minute has
    # left.
    clients = range(FIRST_CLIENT + 1, FIRST_CLIENT + 4)
    date = int(time.time())
    fake_api.push(
        *(
            fake_api.private_message(user, f"msg-c{user - FIRST_CLIENT}-1 VM down", date=date)
            for user in clients
        )
    )
    await eventually(
        lambda: acknowledged(fake_api, clients) and len(group_sends(fake_api)) >= GROUP_PER_MINUTE,
        bot,
        fake_api,
        "the new clients are answered and the group's budget is spent",
        timeout=30,
    )
    # The first minute: the sends before the kill count, so none was refused as a flood.
    first = group_sends(fake_api)
    assert len([t for t in first if t < min(first) + 60]) <= GROUP_PER_MINUTE
    assert not fake_api.rate_limited, [r.summary() for r in fake_api.rate_limited]

    # The rest goes out in the next minute, complete, and still within the limits.
    await eventually(
        lambda: (
            count(bot, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == 0
            and not any(r.status == "pending" for r in fake_api.requests if is_send(r))
        ),
        bot,
        fake_api,
        "everything held back by the budget is delivered",
        timeout=DELIVERY_WAIT,
    )
    assert not fake_api.rate_limited, [r.summary() for r in fake_api.rate_limited]
    limits = check_rate_limits(fake_api, overall_per_second=30, group_per_minute=GROUP_PER_MINUTE)
    print(f"\n  group sends before the kill: {before}; limits: {limits}")
    sequence, _, _, _ = deliveries_by_client(fake_api)
    assert {c: seq for c, seq in sequence.items()} == {c: [1] for c in range(4)}
