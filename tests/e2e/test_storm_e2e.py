"""Issue 10 end to end: a storm of reports of one outage, Telegram's limits enforced.

The real ``python -m bot`` against the fake Bot API answering 429 past Telegram's limits,
with the group's budget scaled down (10 a minute) so that a dozen reports are already a
storm: before, each new ticket cost a topic, a card, a copy and notices, and the reports
queued for minutes behind the budget.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory
from tests.e2e.test_live_timers_and_outbox_e2e import is_send
from tests.e2e.test_outage_rooms_e2e import in_room, room_of, said_by
from tests.e2e.test_rate_limits_e2e import count, group_sends, recorded_group_sends
from tests.e2e.test_sla_report_e2e import BOT_ENV, ENGINEER_ID, crm_json, expect_sent, local
from tests.e2e.test_ticket_flow_e2e import eventually
from tests.fake_bot_api import FakeBotAPI, RateLimits

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPORTERS = 12
FIRST = 710001
GROUP_PER_MINUTE = 10
LIMITS = {
    "OUTBOX_GROUP_PER_MINUTE": str(GROUP_PER_MINUTE),
    "OUTBOX_PRIVATE_PER_SECOND": "1",
    "OUTBOX_OVERALL_PER_SECOND": "30",
}


async def desk_with_reporters(factory: BotProcessFactory, api: FakeBotAPI) -> BotProcess:
    """One customer, one server, a dozen contacts linked (before Telegram's limits apply)."""
    bot = factory(env={**BOT_ENV, **LIMITS})
    customer = (await crm_json(bot, "customer", "add", "Steppe Cloud LLP"))["customer"]
    await crm_json(
        bot, "service", "add", f"--customer={customer['id']}", "--type=dedicated",
        "--fee=150000", "--name=rack-1", "--since=2026-01-01",
    )  # fmt: skip
    token = (await crm_json(bot, "invite", "--customer", str(customer["id"])))["token"]
    api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    await bot.start()
    for user in range(FIRST, FIRST + REPORTERS):
        await said_by(api, user, f"Client{user}", f"/start {token}", local("2026-10-10 09:00"))
    for user in range(FIRST, FIRST + REPORTERS):
        await expect_sent(api, bot, user, "linked to Steppe Cloud LLP", since=0)
    return bot


def group_sends_all_recorded(bot: BotProcess, api: FakeBotAPI) -> bool:
    """The desk recorded every send to the group the Bot API answered, none is on its way,
    and it may send the group nothing more now (nothing queued, or its minute spent): what
    a restart can know of the minute's budget is what its predecessor recorded."""
    if any(r.status == "pending" for r in api.requests if is_send(r)):
        return False
    sent = len(group_sends(api))
    if recorded_group_sends(bot) != sent:
        return False
    queued = f"SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND chat_id = {SUPPORT_CHAT_ID}"
    return count(bot, queued) == 0 or sent >= GROUP_PER_MINUTE


async def test_a_storm_gathers_in_one_room_and_one_answer_there_reaches_every_reporter(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    api = fake_api
    bot = await desk_with_reporters(bot_process_factory, api)
    api.limit_rates(RateLimits(group_per_minute=GROUP_PER_MINUTE))
    topics_before = len(api.requests_of("createForumTopic"))

    for user in range(FIRST, FIRST + REPORTERS):
        await said_by(api, user, f"Client{user}", f"/down storm-{user}", datetime.now(UTC))
    for user in range(FIRST, FIRST + REPORTERS):
        # Within the first minute, whatever the count: the room's lines go as one digest.
        await api.wait_sent(SUPPORT_CHAT_ID, text_contains=f"storm-{user}", timeout=50)

    # The first report's ticket and the outage's room: every other report lives in the room.
    created = [r.params["name"] for r in api.requests_of("createForumTopic")[topics_before:]]
    assert created == [
        "#1 · Steppe Cloud LLP · service is down",
        "Outage #1 · rack-1 · Steppe Cloud LLP",
    ]
    room = room_of(api, 1)
    mark = len(api.sent)
    answered_at = datetime.now(UTC).replace(microsecond=0)
    in_room(api, "Power is lost in DC1, back in 30 min", room, answered_at)
    for user in range(FIRST, FIRST + REPORTERS):
        await api.wait_sent(user, text_contains="Power is lost in DC1", since=mark, timeout=30)
    await expect_sent(api, bot, SUPPORT_CHAT_ID, f"Sent to the {REPORTERS} clients", since=mark)

    def responded() -> list[tuple[str | None, ...]]:
        return bot.query("select first_response_at from tickets order by id")

    await eventually(lambda: (None,) not in responded(), bot, api, "every copy is recorded")
    stamp = answered_at.strftime("%Y-%m-%d %H:%M:%S.000000")
    assert responded() == [(stamp,)] * REPORTERS  # the engineer's message time, for each
    assert api.rate_limited == []  # not one 429: the desk kept to Telegram's limits


async def test_a_crash_mid_storm_loses_no_report_and_overspends_no_budget(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    api = fake_api
    bot = await desk_with_reporters(bot_process_factory, api)
    api.limit_rates(RateLimits(group_per_minute=GROUP_PER_MINUTE))
    half = FIRST + REPORTERS // 2

    for user in range(FIRST, half):
        await said_by(api, user, f"Client{user}", f"/down storm-{user}", datetime.now(UTC))
    await api.wait_sent(SUPPORT_CHAT_ID, text_contains="⚡ Outage #1", timeout=30)
    # The crash comes once the desk recorded what it sent: the Bot API answers a send before
    # the outbox records it (a separate transaction), and a send the desk never recorded is
    # one its successor cannot count against the group's minute.
    await eventually(
        lambda: group_sends_all_recorded(bot, api), bot, api, "the group's sends are recorded"
    )
    bot.kill()
    assert await bot.wait() != 0
    await bot.start()
    for user in range(half, FIRST + REPORTERS):
        await said_by(api, user, f"Client{user}", f"/down storm-{user}", datetime.now(UTC))
    for user in range(FIRST, FIRST + REPORTERS):
        await api.wait_sent(SUPPORT_CHAT_ID, text_contains=f"storm-{user}", timeout=50)

    reports = bot.query("select text from messages where direction = 'from_client' order by id")
    downs = [text for (text,) in reports if text.startswith("/down")]
    assert sorted(downs) == [f"/down storm-{u}" for u in range(FIRST, FIRST + REPORTERS)]
    assert bot.query("select count(*) from tickets") == [(REPORTERS,)]
    assert bot.query("select count(*) from incidents") == [(1,)]
    # The restarted desk knew what its predecessor had spent of the group's minute.
    assert api.rate_limited == []
