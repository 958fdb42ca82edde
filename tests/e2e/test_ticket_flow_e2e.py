"""A ticket's whole round trip, as a client and the engineers notice it.

Every test runs the real ``python -m bot`` process against the fake Bot API server and
checks what reached each chat and what the database kept, including across faults of the
Bot API, a graceful stop (SIGTERM) and a crash (SIGKILL).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory, eventually
from tests.fake_bot_api import FakeBotAPI, Request, SentMessage

CLIENT_ID = 700001
ENGINEER_ID = 500001
BOT_ENV = {
    "POLLING_TIMEOUT_SECONDS": "1",
    "SHUTDOWN_GRACE_SECONDS": "10",
    "SEND_BACKOFF_SECONDS": "0.1",
}
TOPIC_NAME = "#1 · unknown customer · no category yet"
WAIT = 10.0


# -- helpers -------------------------------------------------------------------------------


def seconds_ago(seconds: int) -> datetime:
    """A Telegram message time (whole seconds, UTC) just before now.

    Messages are dated "now", not on a fixed day: a ticket opened days ago and never
    answered is overdue, and the desk would rightly post SLA alerts about it.
    """
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)


def unix(moment: datetime) -> int:
    """Telegram's `date` field."""
    return int(moment.timestamp())


def stored(moment: datetime) -> str:
    """How the database keeps a UTC time in SQLite (naive text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def start_desk(bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI) -> BotProcess:
    """The support group with one engineer in it, and a running bot."""
    fake_api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    return await bot_process_factory(env=BOT_ENV).start()


def client_says(
    fake_api: FakeBotAPI, text: str, *, at: datetime | None = None, update_id: int | None = None
) -> dict[str, Any]:
    at = at or seconds_ago(1)
    return fake_api.private_message(
        CLIENT_ID,
        text,
        first_name="Aigerim",
        username="aigerim_ops",
        date=unix(at),
        update_id=update_id,
    )


def engineer_says(
    fake_api: FakeBotAPI, text: str, *, thread_id: int | None, at: datetime | None = None
) -> dict[str, Any]:
    at = at or seconds_ago(1)
    return fake_api.group_message(
        SUPPORT_CHAT_ID, ENGINEER_ID, text, thread_id=thread_id, first_name="Dana", date=unix(at)
    )


def copies_to(fake_api: FakeBotAPI, chat_id: int, *, include_failed: bool = False) -> list[Request]:
    """copyMessage calls aimed at a chat (answered ones; failed ones too when asked)."""
    return [
        r
        for r in fake_api.requests_of("copyMessage", include_failed=include_failed)
        if r.params.get("chat_id") == chat_id
    ]


def acknowledgements(fake_api: FakeBotAPI) -> list[SentMessage]:
    return [
        m
        for m in fake_api.sent_to(CLIENT_ID)
        if m.method.lower() == "sendmessage" and "is open" in (m.text or "")
    ]


def the_topic(fake_api: FakeBotAPI) -> int:
    """message_thread_id of the one forum topic the bot created."""
    created = fake_api.requests_of("createForumTopic")
    assert len(created) == 1, [r.summary() for r in created]
    return int(created[0].result["message_thread_id"])


def count(bot: BotProcess, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(bot.query(sql, params)[0][0])


def deliveries(bot: BotProcess, direction: str) -> list[str]:
    """messages.delivery of every row of one direction, oldest first."""
    rows = bot.query("SELECT delivery FROM messages WHERE direction=? ORDER BY id", (direction,))
    return [delivery for (delivery,) in rows]


async def request_arrives(fake_api: FakeBotAPI, method: str, timeout: float = WAIT) -> Request:
    """The first request of a method, as soon as it arrives (before it is answered)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for request in fake_api.requests:
            if request.method.lower() == method.lower():
                return request
        if loop.time() > deadline:
            raise AssertionError(f"no {method} within {timeout}s.\n{fake_api.describe()}")
        await asyncio.sleep(0.01)


async def settle(fake_api: FakeBotAPI, quiet: float = 0.3, timeout: float = WAIT) -> None:
    """Wait until the bot has made no Bot API call but getUpdates for ``quiet`` seconds.

    Counting "exactly one" of something is only meaningful once late duplicates had time
    to show up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        calls = [r for r in fake_api.requests if r.method.lower() != "getupdates"]
        busy = any(r.status == "pending" for r in calls)
        if not busy and (not calls or time.time() - calls[-1].time >= quiet):
            return
        if loop.time() > deadline:
            raise AssertionError(f"the bot never went quiet.\n{fake_api.describe()}")
        await asyncio.sleep(0.05)


def times_delivered(fake_api: FakeBotAPI, update_id: int) -> int:
    """How many getUpdates answers carried this update (2 = Telegram sent it again)."""
    return sum(
        1
        for r in fake_api.requests_of("getUpdates")
        for update in r.result or []
        if update["update_id"] == update_id
    )


def assert_no_fake_trouble(fake_api: FakeBotAPI) -> None:
    """The bot called nothing unknown and broke no Bot API rule the fake checks."""
    assert not fake_api.fake_errors, fake_api.fake_errors
    assert not fake_api.unknown_methods, fake_api.unknown_methods
    uninjected = [r.summary() for r in fake_api.failed_requests if not r.injected]
    assert not uninjected, uninjected


async def stop_cleanly(bot: BotProcess) -> None:
    """SIGTERM ends the process with 0 and without a traceback."""
    code = await bot.stop()
    assert code == 0, f"exit code {code}\n{bot.tail()}"
    assert "Traceback" not in bot.output(), bot.tail()


async def open_ticket(bot: BotProcess, fake_api: FakeBotAPI) -> tuple[dict[str, Any], int]:
    """A client's first message, copied into a new topic; returns (update, thread id)."""
    update = fake_api.push_update(client_says(fake_api, "Our VM vm-17 is unreachable"))
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=WAIT)
    return update, the_topic(fake_api)


# -- 1. the round trip ---------------------------------------------------------------------


async def test_client_message_opens_a_topic_and_the_engineers_answer_reaches_the_client(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    client_at, engineer_at = seconds_ago(40), seconds_ago(7)
    client_update = fake_api.push_update(
        client_says(fake_api, "Our VM vm-17 is unreachable", at=client_at)
    )
    client_message = client_update["message"]

    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=WAIT)

    # The engineers get a topic named after the ticket ...
    created = fake_api.requests_of("createForumTopic")
    assert [(r.params["chat_id"], r.params["name"]) for r in created] == [
        (SUPPORT_CHAT_ID, TOPIC_NAME)
    ]
    thread_id = the_topic(fake_api)
    assert fake_api.topics(SUPPORT_CHAT_ID)[thread_id].name == TOPIC_NAME
    # ... with the header first, then a copy of the client's words.
    in_topic = fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=thread_id)
    assert [m.method for m in in_topic] == ["sendMessage", "copyMessage"], in_topic
    header, copy = in_topic
    assert "#1" in (header.text or "")
    assert "unknown customer" in (header.text or "")
    assert copy.params["from_chat_id"] == CLIENT_ID
    assert copy.params["message_id"] == client_message["message_id"]
    assert copy.text == "Our VM vm-17 is unreachable"

    # The client gets an acknowledgement with the number, the target and category buttons.
    [ack] = await fake_api.wait_sent(CLIENT_ID, text_contains="#1", timeout=WAIT)
    assert ack.method == "sendMessage"
    assert "10 minutes" in (ack.text or ""), ack.text
    buttons = ack.button_data()
    assert buttons, ack.message
    assert all(data.startswith("cat:1:") for data in buttons), buttons

    # An engineer answers in the topic: the client receives a copy of it.
    engineer_update = fake_api.push_update(
        engineer_says(
            fake_api,
            "Looking into it: the hypervisor rebooted.",
            thread_id=thread_id,
            at=engineer_at,
        )
    )
    engineer_message = engineer_update["message"]
    [reply] = await fake_api.wait_for("copyMessage", chat_id=CLIENT_ID, timeout=WAIT)
    assert reply.params["from_chat_id"] == SUPPORT_CHAT_ID
    assert reply.params["message_id"] == engineer_message["message_id"]

    await settle(fake_api)
    # The client saw exactly two messages: the acknowledgement and the engineer's answer ...
    to_client = fake_api.sent_to(CLIENT_ID)
    assert [m.text for m in to_client] == [
        ack.text,
        "Looking into it: the hypervisor rebooted.",
    ], [m.text for m in to_client]
    # ... and the engineers the header and the client's words, nothing else.
    assert fake_api.sent_to(SUPPORT_CHAT_ID) == in_topic, fake_api.describe()

    # The evidence in the database.
    await eventually(
        lambda: deliveries(bot, "to_client") == ["delivered"],
        bot,
        fake_api,
        "the answer is recorded as delivered",
    )
    tickets = bot.query(
        "SELECT id, status, channel, opened_at, first_response_at, client_chat_id, "
        "support_chat_id, topic_thread_id, header_message_id FROM tickets"
    )
    assert tickets == [
        (
            1,
            "open",
            "telegram",
            stored(client_at),
            stored(engineer_at),
            CLIENT_ID,
            SUPPORT_CHAT_ID,
            thread_id,
            header.message_id,
        )
    ]
    messages = bot.query(
        "SELECT direction, chat_id, telegram_message_id, text, telegram_date, delivery, "
        "copy_chat_id, copy_message_id FROM messages WHERE direction IN "
        "('from_client', 'to_client') ORDER BY id"
    )
    assert messages == [
        (
            "from_client",
            CLIENT_ID,
            client_message["message_id"],
            "Our VM vm-17 is unreachable",
            stored(client_at),
            "delivered",
            SUPPORT_CHAT_ID,
            copy.message_id,
        ),
        (
            "to_client",
            SUPPORT_CHAT_ID,
            engineer_message["message_id"],
            "Looking into it: the hypervisor rebooted.",
            stored(engineer_at),
            "delivered",
            CLIENT_ID,
            to_client[1].message_id,
        ),
    ]
    events = bot.query("SELECT kind, evidence_at FROM ticket_events WHERE ticket_id=1 ORDER BY id")
    assert ("opened", stored(client_at)) in events, events
    assert ("first_response", stored(engineer_at)) in events, events
    assert_no_fake_trouble(fake_api)
    await stop_cleanly(bot)


# -- 2. duplicates -------------------------------------------------------------------------


async def test_a_redelivered_update_or_message_makes_no_second_ticket_or_copy(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    update, _ = await open_ticket(bot, fake_api)

    # Telegram delivers the very same update again ...
    fake_api.push_update(update)
    await fake_api.wait_confirmed(timeout=WAIT)
    assert times_delivered(fake_api, update["update_id"]) == 2
    # ... and the same message once more, under a new update id.
    again = fake_api.push_update(
        {"update_id": fake_api.next_update_id(), "message": dict(update["message"])}
    )
    await fake_api.wait_confirmed(timeout=WAIT)
    assert times_delivered(fake_api, again["update_id"]) == 1

    await settle(fake_api)
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    assert len(fake_api.requests_of("createForumTopic")) == 1
    copies = copies_to(fake_api, SUPPORT_CHAT_ID)
    assert len(copies) == 1, [r.summary() for r in copies]
    assert len(acknowledgements(fake_api)) == 1
    # Recorded by the outbox after Telegram answered the copy, in a transaction of its own:
    # a quiet Bot API does not mean that transaction has committed.
    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered"],
        bot,
        fake_api,
        "the client's message is recorded as delivered",
    )
    assert_no_fake_trouble(fake_api)
    await stop_cleanly(bot)


# -- 3. Bot API faults ---------------------------------------------------------------------


async def test_a_copy_rate_limited_with_429_is_sent_after_retry_after(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.fail("copyMessage", error_code=429, retry_after=1)

    await open_ticket(bot, fake_api)

    attempts = copies_to(fake_api, SUPPORT_CHAT_ID, include_failed=True)
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 429), ("ok", None)]
    assert attempts[1].time - attempts[0].time >= 0.9, "retried before retry_after"
    assert len(fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=the_topic(fake_api))) == 2
    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered"],
        bot,
        fake_api,
        "the client's message is recorded as delivered",
    )
    await stop_cleanly(bot)


async def test_a_copy_failing_with_500_once_is_retried_and_arrives(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.fail("copyMessage", error_code=500)

    await open_ticket(bot, fake_api)

    attempts = copies_to(fake_api, SUPPORT_CHAT_ID, include_failed=True)
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 500), ("ok", None)]
    assert len(fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=the_topic(fake_api))) == 2
    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered"],
        bot,
        fake_api,
        "the client's message is recorded as delivered",
    )
    await stop_cleanly(bot)


async def test_a_reply_the_client_cannot_receive_is_marked_failed_and_the_engineers_are_told(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    _, thread_id = await open_ticket(bot, fake_api)
    await fake_api.wait_sent(CLIENT_ID, text_contains="#1", timeout=WAIT)
    fake_api.block(CLIENT_ID)  # the client blocked the bot: a permanent 403
    mark = len(fake_api.sent)

    fake_api.push_update(engineer_says(fake_api, "Please reboot vm-17", thread_id=thread_id))

    [warning] = await fake_api.wait_sent(
        SUPPORT_CHAT_ID,
        thread_id=thread_id,
        text_contains="Not delivered",
        since=mark,
        timeout=WAIT,
    )
    assert "blocked" in (warning.text or ""), warning.text
    await settle(fake_api)
    attempts = copies_to(fake_api, CLIENT_ID, include_failed=True)
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 403)], "403 is permanent"
    await eventually(
        lambda: deliveries(bot, "to_client") == ["failed"],
        bot,
        fake_api,
        "the answer is recorded as failed",
    )
    [(error,)] = bot.query("SELECT delivery_error FROM messages WHERE direction='to_client'")
    assert "blocked" in error
    await stop_cleanly(bot)


# -- 4. restarts ---------------------------------------------------------------------------


async def test_a_message_sent_while_the_bot_is_stopped_joins_the_same_topic_after_restart(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    _, thread_id = await open_ticket(bot, fake_api)
    await fake_api.wait_sent(CLIENT_ID, text_contains="#1", timeout=WAIT)

    await stop_cleanly(bot)
    later = fake_api.push_update(client_says(fake_api, "Still down, any news?"))
    await bot.start()

    copies = await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, count=2, timeout=WAIT)
    assert copies[1].params["message_id"] == later["message"]["message_id"]
    assert copies[1].params["message_thread_id"] == thread_id
    assert [m.text for m in fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=thread_id)][1:] == [
        "Our VM vm-17 is unreachable",
        "Still down, any news?",
    ]
    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered", "delivered"],
        bot,
        fake_api,
        "both client messages are recorded as delivered",
    )
    await settle(fake_api)
    assert len(copies_to(fake_api, SUPPORT_CHAT_ID)) == 2
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    assert count(bot, "SELECT count(DISTINCT ticket_id) FROM messages") == 1
    assert len(fake_api.requests_of("createForumTopic")) == 1
    assert len(acknowledgements(fake_api)) == 1
    assert_no_fake_trouble(fake_api)
    await stop_cleanly(bot)


async def test_a_crash_in_a_burst_loses_no_message_and_records_none_twice(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    burst = fake_api.push(
        *(client_says(fake_api, f"Burst message {n}", at=seconds_ago(6 - n)) for n in range(1, 6))
    )
    sent_ids = {u["message"]["message_id"] for u in burst}
    assert len(sent_ids) == 5

    # Crash as soon as the bot is visibly at work on the burst.
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=WAIT)
    bot.kill()
    await bot.wait()
    await bot.start()

    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered"] * 5,
        bot,
        fake_api,
        "all five messages are recorded once and delivered",
    )
    await fake_api.wait_confirmed(timeout=WAIT)
    await settle(fake_api)
    rows = bot.query(
        "SELECT count(*), count(DISTINCT telegram_message_id) FROM messages "
        "WHERE direction='from_client'"
    )
    assert rows == [(5, 5)]
    recorded = bot.query("SELECT telegram_message_id FROM messages WHERE direction='from_client'")
    assert {mid for (mid,) in recorded} == sent_ids
    copied = {r.params["message_id"] for r in copies_to(fake_api, SUPPORT_CHAT_ID)}
    assert copied == sent_ids, f"never copied: {sent_ids - copied}"
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    [(thread_id,)] = bot.query("SELECT topic_thread_id FROM tickets")
    threads = {r.params.get("message_thread_id") for r in copies_to(fake_api, SUPPORT_CHAT_ID)}
    assert threads == {thread_id}
    await stop_cleanly(bot)


# -- 5, 6. commands in the wrong shape or the wrong place ------------------------------------


async def test_a_malformed_phone_command_is_explained_and_opens_no_ticket(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    command = fake_api.push_update(engineer_says(fake_api, "/phone abc", thread_id=None))

    [reply] = await fake_api.wait_sent(
        SUPPORT_CHAT_ID, text_contains="must be a number", timeout=WAIT
    )
    assert "/phone CUSTOMER_ID [HH:MM] TEXT" in (reply.text or ""), reply.text
    assert "abc" in (reply.text or "")
    assert reply.message_thread_id is None
    replied_to = (reply.message.get("reply_to_message") or {}).get("message_id")
    assert replied_to == command["message"]["message_id"]
    await fake_api.wait_confirmed(timeout=WAIT)
    await settle(fake_api)
    assert len(fake_api.sent_to(SUPPORT_CHAT_ID)) == 1
    assert count(bot, "SELECT count(*) FROM tickets") == 0
    assert fake_api.requests_of("createForumTopic") == []
    assert_no_fake_trouble(fake_api)
    await stop_cleanly(bot)


async def test_a_client_using_an_engineer_command_is_refused(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.push_update(client_says(fake_api, "/resolve"))

    [refusal] = await fake_api.wait_sent(CLIENT_ID, timeout=WAIT)
    assert "support engineers" in (refusal.text or ""), refusal.text
    await fake_api.wait_confirmed(timeout=WAIT)
    await settle(fake_api)
    assert len(fake_api.sent_to(CLIENT_ID)) == 1
    assert count(bot, "SELECT count(*) FROM tickets") == 0
    assert fake_api.sent_to(SUPPORT_CHAT_ID) == []
    assert_no_fake_trouble(fake_api)
    await stop_cleanly(bot)


# -- 7. graceful stop ----------------------------------------------------------------------


async def test_sigterm_finishes_the_update_in_flight_before_exiting(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.delay("createForumTopic", 2)
    update = fake_api.push_update(client_says(fake_api, "Our VM vm-17 is unreachable"))
    await request_arrives(fake_api, "createForumTopic")

    await stop_cleanly(bot)

    assert count(bot, "SELECT count(*) FROM tickets") == 1, bot.tail()
    rows = bot.query(
        "SELECT telegram_message_id, delivery FROM messages WHERE direction='from_client'"
    )
    assert rows == [(update["message"]["message_id"], "delivered")], bot.tail()
    copies = copies_to(fake_api, SUPPORT_CHAT_ID)
    assert [c.params["message_id"] for c in copies] == [update["message"]["message_id"]], (
        fake_api.describe()
    )
    assert copies[0].params["message_thread_id"] == the_topic(fake_api)
    assert len(acknowledgements(fake_api)) == 1
    # The update was confirmed before the exit: Telegram will not send it to the next start.
    assert fake_api.confirmed_offset > update["update_id"], fake_api.describe()


async def test_a_message_queued_behind_the_update_in_flight_at_sigterm_is_handled_after_restart(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    """SIGTERM may leave an update it has not started, but then Telegram must send it again.

    A write lock on the database keeps the first update of a batch in flight while SIGTERM
    arrives; the second one of the same getUpdates batch is the one at risk.
    """
    bot = await start_desk(bot_process_factory, fake_api)
    lock = sqlite3.connect(bot.database_path, timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        first, second = fake_api.push(
            client_says(fake_api, "Our VM vm-17 is unreachable"),
            client_says(fake_api, "Its IP is 10.0.0.17", at=seconds_ago(0)),
        )
        await eventually(
            lambda: times_delivered(fake_api, second["update_id"]) == 1,
            bot,
            fake_api,
            "the bot fetched both updates in one batch",
        )
        # The answer is on its way to the bot, which then waits for the database with the
        # first update: nothing the test can observe marks the moment it read the answer.
        await asyncio.sleep(0.3)
        stopping = asyncio.create_task(bot.stop())
        await eventually(
            lambda: "event='stopping'" in bot.stdout(),
            bot,
            fake_api,
            "the bot took the SIGTERM",
        )
        assert bot.running, "the bot must wait for the update in flight"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert await stopping == 0, bot.tail()
    assert "Traceback" not in bot.output(), bot.tail()

    await bot.start()

    await eventually(
        lambda: deliveries(bot, "from_client") == ["delivered", "delivered"],
        bot,
        fake_api,
        "the second message is recorded and delivered too",
    )
    copies = copies_to(fake_api, SUPPORT_CHAT_ID)
    assert [c.params["message_id"] for c in copies] == [
        first["message"]["message_id"],
        second["message"]["message_id"],
    ]
    assert {c.params["message_thread_id"] for c in copies} == {the_topic(fake_api)}
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    await stop_cleanly(bot)
