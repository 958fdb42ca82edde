"""The money as the terms count it, through the real bot and the command lines, October 2026.

* A dedicated server active from 16 October with a 240-minute outage: 10 % of the fee for
  16 of October's 31 days (A 5.8), capped at that amount (A 5.9).
* Object storage on a 3-day trial from 5 October (B 3), with an outage and a data loss during
  the trial: no credit for either; after the switch to paid (8 October) a 600-minute outage
  earns 10 % of the fee for the 24 paid days (B 5.4), nothing for the trial days.

Every figure is worked out by hand below; the JSON report must match it to the cent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcessFactory
from tests.e2e.test_sla_report_e2e import (
    BOT_ENV,
    BOT_USERNAME,
    ENGINEER_ID,
    crm_json,
    engineer_says,
    expect_sent,
    local,
    report_json,
    unix,
)
from tests.fake_bot_api import FakeBotAPI

DEDICATED_CLIENT, STORAGE_CLIENT = 700011, 700012


def client_says(api: FakeBotAPI, client: int, text: str, at: Any) -> dict[str, Any]:
    return api.private_message(client, text, first_name="Client", date=unix(at))


async def new_topic(api: FakeBotAPI, known: int) -> int:
    """The newest ticket's topic (each outage also opens a room, "Outage #N · …")."""

    def ticket_topic(r: Any) -> bool:
        return r.method == "createForumTopic" and str(r.params["name"]).startswith("#")

    # The room goes first when the group's budget is short: wait for the ticket's topic.
    created = await api.wait_for(ticket_topic, count=known + 1, timeout=120)
    assert len(created) == known + 1, [r.summary() for r in created]
    thread = int(created[-1].result["message_thread_id"])
    # The bot learns the thread from createForumTopic's answer and records it just after; the
    # ticket's header goes only once it is recorded. An engineer writes there after the
    # header, not in the millisecond between.
    await api.wait_sent(SUPPORT_CHAT_ID, thread_id=thread, text_contains="channel:", timeout=120)
    return thread


async def group_reply(api: FakeBotAPI, bot: Any, text: str, since: int) -> None:
    try:
        await api.wait_sent(SUPPORT_CHAT_ID, text_contains=text, since=since, timeout=120)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{bot.tail()}") from None


async def outage(
    api: FakeBotAPI, bot: Any, client: int, down: str, restored: str, topics: int, *,
    data_loss: bool = False,
) -> int:  # fmt: skip
    """/down by the client, then /confirm hardware, [/dataloss], /restored in the topic."""
    mark = len(api.sent)
    api.push_update(client_says(api, client, "/down", local(down)))
    await group_reply(api, bot, "Outage #", mark)
    thread = await new_topic(api, topics)
    steps = [("/confirm hardware", "confirmed, layer hardware", local(down).replace(minute=5))]
    if data_loss:
        # During the trial the engine grants nothing (B 3), and the engineers are told so.
        answer = "no credit as things stand (trial)"
        steps.append(("/dataloss", answer, local(down).replace(minute=6)))
    # The restoration is stated afterwards, then the ticket resolved.
    after = local(restored).replace(minute=30)
    steps.append((f"/restored {restored}", "from the first evidence", after))
    steps.append(("/resolve", "resolved", after.replace(minute=31)))
    for command, answer, at in steps:
        mark = len(api.sent)
        api.push_update(engineer_says(api, command, thread, at))
        # The group's own rate limit (20 a minute) may hold a reply back a while.
        await group_reply(api, bot, answer, mark)
    return thread


@pytest.mark.slow
async def test_pro_rata_credits_and_the_storage_trial_match_the_hand_figures_to_the_cent(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = bot_process_factory(env=BOT_ENV)
    dedicated_customer = (await crm_json(bot, "customer", "add", "Steppe Cloud LLP"))["customer"]
    storage_customer = (await crm_json(bot, "customer", "add", "Aral Data LLP"))["customer"]
    rack = (
        await crm_json(
            bot, "service", "add", f"--customer={dedicated_customer['id']}", "--type=dedicated",
            "--fee=150000", "--name=rack-1", "--since=2026-10-16",
        )
    )["service"]  # fmt: skip
    bucket = (
        await crm_json(
            bot, "service", "add", f"--customer={storage_customer['id']}",
            "--type=object_storage", "--fee=60000", "--name=bucket-1", "--since=2026-10-05",
            "--trial",
        )
    )["service"]  # fmt: skip
    assert bucket["trial_until"] == "2026-10-07T19:00:00+00:00"  # 8 October 00:00 local
    fake_api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    await bot.start()
    for customer, client in (
        (dedicated_customer, DEDICATED_CLIENT),
        (storage_customer, STORAGE_CLIENT),
    ):
        invitation = await crm_json(bot, "invite", "--customer", str(customer["id"]))
        assert invitation["link"].startswith(f"https://t.me/{BOT_USERNAME}?start=")
        mark = len(fake_api.sent)
        fake_api.push_update(
            client_says(
                fake_api, client, f"/start {invitation['token']}", local("2026-10-05 09:00")
            )
        )
        await expect_sent(fake_api, bot, client, f"linked to {customer['name']}", since=mark)

    # Storage: 6 October 10:00–16:00 (in the trial), data lost.
    await outage(fake_api, bot, STORAGE_CLIENT, "2026-10-06 10:00", "2026-10-06 16:00", 0,
                 data_loss=True)  # fmt: skip
    # Storage again, paid by now: 20 October 10:00–20:00 = 600 minutes.
    await outage(fake_api, bot, STORAGE_CLIENT, "2026-10-20 10:00", "2026-10-20 20:00", 1)
    # Dedicated: 20 October 10:00–14:00 = 240 minutes.
    await outage(fake_api, bot, DEDICATED_CLIENT, "2026-10-20 10:00", "2026-10-20 14:00", 2)

    report = await report_json(bot, "2026-10")
    assert report["partial"] is False and report["as_of"] == "2026-10-31T19:00:00Z"
    by_id = {s["service_id"]: s for s in report["services"]}

    # Dedicated, active 16 Oct 00:00 → 1 Nov 00:00 local = 16 days = 23 040 minutes.
    # Availability 100 × (23040 − 240) / 23040 = 98.958333… → 98.9583 (truncated); the
    # 95.0–99.0 band: 10 %. Base 150000 × 23040 / 44640 = 77419.354… → 77419.35 KZT;
    # 10 % = 7741.935 → 7741.94 KZT (half up); the cap (77419.35) is far.
    rack_line = by_id[rack["id"]]
    assert {k: rack_line[k] for k in (
        "service_name", "active_minutes", "downtime_minutes", "availability_percent", "tier",
        "credit_base_amount", "credit_amount", "data_loss_credit_amount", "total_credit_amount",
    )} == {
        "service_name": "rack-1", "active_minutes": 23040, "downtime_minutes": 240,
        "availability_percent": 98.9583, "tier": "major", "credit_base_amount": "77419.35",
        "credit_amount": "7741.94", "data_loss_credit_amount": "0.00",
        "total_credit_amount": "7741.94",
    }  # fmt: skip

    # Storage: paid from 8 Oct 00:00 local → 1 Nov = 24 days = 34 560 minutes; the trial's
    # outage and data loss (6 Oct) fall before it: no downtime, no data-loss credit.
    # Availability 100 × (34560 − 600) / 34560 = 98.263888… → 98.2638; 10 %.
    # Base 60000 × 34560 / 44640 = 46451.612… → 46451.61 KZT; 10 % = 4645.161 → 4645.16 KZT.
    bucket_line = by_id[bucket["id"]]
    assert {k: bucket_line[k] for k in (
        "trial_until", "active_minutes", "downtime_minutes", "availability_percent", "tier",
        "credit_base_amount", "credit_amount", "data_loss_credit_amount", "total_credit_amount",
    )} == {
        "trial_until": "2026-10-07T19:00:00Z", "active_minutes": 34560, "downtime_minutes": 600,
        "availability_percent": 98.2638, "tier": "major", "credit_base_amount": "46451.61",
        "credit_amount": "4645.16", "data_loss_credit_amount": "0.00",
        "total_credit_amount": "4645.16",
    }  # fmt: skip

    # /claim asks which month; the button claims October; a second press is refused.
    mark = len(fake_api.sent)
    fake_api.push_update(
        client_says(fake_api, DEDICATED_CLIENT, "/claim", local("2026-11-02 09:00"))
    )
    await expect_sent(fake_api, bot, DEDICATED_CLIENT, "Which month", since=mark)
    asked = [m for m in fake_api.sent[mark:] if m.chat_id == DEDICATED_CLIENT][-1]
    for expected in ("recorded for: rack-1", "was already claimed on"):
        mark = len(fake_api.requests)
        fake_api.push_update(
            fake_api.callback_query(
                DEDICATED_CLIENT, "claim:2026-10", message_chat_id=DEDICATED_CLIENT,
                message_id=asked.message_id,
            )
        )  # fmt: skip
        edits = await fake_api.wait_for("editMessageText", since=mark, timeout=15)
        assert expected in str(edits[-1].params.get("text")), edits[-1].summary()
    assert not fake_api.unknown_methods, fake_api.unknown_methods
