"""A ticket's whole round trip, as a client and the engineers notice it.

Every test runs the real ``python -m bot`` process against the fake Bot API server and
checks what reached each chat and what the database kept, including across faults of the
Bot API, a graceful stop (SIGTERM) and a crash (SIGKILL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, BotProcessFactory
from tests.fake_bot_api import FakeBotAPI, Request, SentMessage

CLIENT_ID = 700001
ENGINEER_ID = 500001
BOT_ENV = {
    "POLLING_TIMEOUT_SECONDS": "1",
    "SHUTDOWN_GRACE_SECONDS": "10",
    "SEND_BACKOFF_SECONDS": "0.1",
}
# Telegram's own message times (whole seconds, UTC), in the past of the test run.
CLIENT_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENGINEER_AT = CLIENT_AT + timedelta(minutes=4, seconds=30)
TOPIC_NAME = "#1 · unknown customer · no category yet"
WAIT = 10.0


# -- helpers -------------------------------------------------------------------------------


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
    fake_api: FakeBotAPI, text: str, *, at: datetime = CLIENT_AT, update_id: int | None = None
) -> dict[str, Any]:
    return fake_api.private_message(
        CLIENT_ID,
        text,
        first_name="Aigerim",
        username="aigerim_ops",
        date=unix(at),
        update_id=update_id,
    )


def engineer_says(
    fake_api: FakeBotAPI, text: str, *, thread_id: int | None, at: datetime = ENGINEER_AT
) -> dict[str, Any]:
    return fake_api.group_message(
        SUPPORT_CHAT_ID, ENGINEER_ID, text, thread_id=thread_id, first_name="Dana", date=unix(at)
    )


def copies_to_support(fake_api: FakeBotAPI) -> list[Request]:
    return [
        r
        for r in fake_api.requests_of("copyMessage")
        if r.params.get("chat_id") == SUPPORT_CHAT_ID
    ]


def copies_to_client(fake_api: FakeBotAPI) -> list[Request]:
    return [r for r in fake_api.requests_of("copyMessage") if r.params.get("chat_id") == CLIENT_ID]


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


async def eventually(
    check: Callable[[], bool], bot: BotProcess, fake_api: FakeBotAPI, what: str, timeout=WAIT
) -> None:
    """Poll a condition (usually on the database) without blocking the fake server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting until {what}.\n"
                f"{bot.tail()}\n--- fake Bot API ---\n{fake_api.describe()}"
            )
        await asyncio.sleep(0.05)


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


def assert_no_fake_trouble(fake_api: FakeBotAPI) -> None:
    """The bot called nothing unknown and broke no Bot API rule the fake checks."""
    assert not fake_api.fake_errors, fake_api.fake_errors
    assert not fake_api.unknown_methods, fake_api.unknown_methods
    uninjected = [r.summary() for r in fake_api.failed_requests if not r.injected]
    assert not uninjected, uninjected


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
    client_update = fake_api.push_update(client_says(fake_api, "Our VM vm-17 is unreachable"))
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
    assert fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=None) == []

    # The client gets exactly one acknowledgement, with the number, the target and buttons.
    to_client = fake_api.sent_to(CLIENT_ID)
    assert len(to_client) == 1, [m.text for m in to_client]
    ack = to_client[0]
    assert ack.method == "sendMessage"
    assert "#1" in (ack.text or "") and "10 minutes" in (ack.text or ""), ack.text
    buttons = ack.button_data()
    assert buttons, ack.message
    assert all(data.startswith("cat:1:") for data in buttons), buttons

    # An engineer answers in the topic: the client receives a copy of it.
    engineer_update = fake_api.push_update(
        engineer_says(fake_api, "Looking into it: the hypervisor rebooted.", thread_id=thread_id)
    )
    engineer_message = engineer_update["message"]
    [reply] = await fake_api.wait_for("copyMessage", chat_id=CLIENT_ID, timeout=WAIT)
    assert reply.params["from_chat_id"] == SUPPORT_CHAT_ID
    assert reply.params["message_id"] == engineer_message["message_id"]
    to_client = fake_api.sent_to(CLIENT_ID)
    assert [m.text for m in to_client][1:] == ["Looking into it: the hypervisor rebooted."]

    # The evidence in the database.
    def reply_delivered() -> bool:
        return (
            count(
                bot,
                "SELECT count(*) FROM messages WHERE direction='to_client' "
                "AND delivery='delivered'",
            )
            == 1
        )

    await eventually(reply_delivered, bot, fake_api, "the reply is recorded as delivered")
    tickets = bot.query(
        "SELECT id, status, channel, opened_at, first_response_at, client_chat_id, "
        "support_chat_id, topic_thread_id, header_message_id FROM tickets"
    )
    assert tickets == [
        (
            1,
            "open",
            "telegram",
            stored(CLIENT_AT),
            stored(ENGINEER_AT),
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
            stored(CLIENT_AT),
            "delivered",
            SUPPORT_CHAT_ID,
            copy.message_id,
        ),
        (
            "to_client",
            SUPPORT_CHAT_ID,
            engineer_message["message_id"],
            "Looking into it: the hypervisor rebooted.",
            stored(ENGINEER_AT),
            "delivered",
            CLIENT_ID,
            to_client[1].message_id,
        ),
    ]
    events = bot.query("SELECT kind, evidence_at FROM ticket_events WHERE ticket_id=1 ORDER BY id")
    kinds = [kind for kind, _ in events]
    assert "opened" in kinds and "first_response" in kinds, events
    assert (("opened", stored(CLIENT_AT))) in events
    assert (("first_response", stored(ENGINEER_AT))) in events
    assert_no_fake_trouble(fake_api)


# -- 2. duplicates -------------------------------------------------------------------------


async def test_a_redelivered_update_or_message_makes_no_second_ticket_or_copy(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    update, _ = await open_ticket(bot, fake_api)

    # Telegram delivers the very same update again ...
    fake_api.push_update(update)
    await fake_api.wait_confirmed(timeout=WAIT)
    # ... and the same message once more, under a new update id.
    again = {"update_id": fake_api.next_update_id(), "message": dict(update["message"])}
    fake_api.push_update(again)
    await fake_api.wait_confirmed(timeout=WAIT)

    def handled() -> bool:
        return (
            count(bot, "SELECT count(*) FROM processed_updates WHERE update_id=?", (
                again["update_id"],
            ))
            == 1
        )

    await eventually(handled, bot, fake_api, "the last duplicate is handled")
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    assert len(fake_api.requests_of("createForumTopic")) == 1
    assert len(copies_to_support(fake_api)) == 1, [r.summary() for r in copies_to_support(fake_api)]
    assert len(acknowledgements(fake_api)) == 1
    assert count(bot, "SELECT count(*) FROM messages WHERE direction='from_client'") == 1
    assert_no_fake_trouble(fake_api)


# -- 3. Bot API faults ---------------------------------------------------------------------


async def test_a_copy_rate_limited_with_429_is_sent_after_retry_after(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.fail("copyMessage", error_code=429, retry_after=1)

    await open_ticket(bot, fake_api)

    attempts = [
        r
        for r in fake_api.requests_of("copyMessage", include_failed=True)
        if r.params.get("chat_id") == SUPPORT_CHAT_ID
    ]
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 429), ("ok", None)]
    assert attempts[1].time - attempts[0].time >= 0.9, "retried before retry_after"
    assert len(fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=the_topic(fake_api))) == 2

    def delivered() -> bool:
        return (
            bot.query("SELECT delivery FROM messages WHERE direction='from_client'")
            == [("delivered",)]
        )

    await eventually(delivered, bot, fake_api, "the client message is recorded as delivered")


async def test_a_copy_failing_with_500_once_is_retried_and_arrives(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.fail("copyMessage", error_code=500)

    await open_ticket(bot, fake_api)

    attempts = [
        r
        for r in fake_api.requests_of("copyMessage", include_failed=True)
        if r.params.get("chat_id") == SUPPORT_CHAT_ID
    ]
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 500), ("ok", None)]
    assert len(fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=the_topic(fake_api))) == 2

    def delivered() -> bool:
        return (
            bot.query("SELECT delivery FROM messages WHERE direction='from_client'")
            == [("delivered",)]
        )

    await eventually(delivered, bot, fake_api, "the client message is recorded as delivered")


async def test_a_reply_the_client_cannot_receive_is_marked_failed_and_the_engineers_are_told(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    _, thread_id = await open_ticket(bot, fake_api)
    fake_api.block(CLIENT_ID)  # the client blocked the bot: a permanent 403
    mark = len(fake_api.sent)

    fake_api.push_update(engineer_says(fake_api, "Please reboot vm-17", thread_id=thread_id))

    [warning] = await fake_api.wait_sent(
        SUPPORT_CHAT_ID, thread_id=thread_id, text_contains="Not delivered", since=mark,
        timeout=WAIT,
    )
    assert "blocked" in (warning.text or ""), warning.text
    attempts = [
        r
        for r in fake_api.requests_of("copyMessage", include_failed=True)
        if r.params.get("chat_id") == CLIENT_ID
    ]
    assert [(r.status, r.error_code) for r in attempts] == [("failed", 403)], "403 is permanent"

    def failed() -> bool:
        rows = bot.query("SELECT delivery FROM messages WHERE direction='to_client'")
        return rows == [("failed",)]

    await eventually(failed, bot, fake_api, "the reply is recorded as failed")
    [(error,)] = bot.query("SELECT delivery_error FROM messages WHERE direction='to_client'")
    assert "blocked" in error


# -- 4. restarts ---------------------------------------------------------------------------


async def test_a_message_sent_while_the_bot_is_stopped_joins_the_same_topic_after_restart(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    _, thread_id = await open_ticket(bot, fake_api)

    assert await bot.stop() == 0, bot.tail()
    later = fake_api.push_update(
        client_says(fake_api, "Still down, any news?", at=CLIENT_AT + timedelta(minutes=2))
    )
    await bot.start()

    copies = await fake_api.wait_for(
        "copyMessage", chat_id=SUPPORT_CHAT_ID, count=2, timeout=WAIT
    )
    assert copies[1].params["message_id"] == later["message"]["message_id"]
    assert copies[1].params["message_thread_id"] == thread_id
    assert [m.text for m in fake_api.sent_to(SUPPORT_CHAT_ID, thread_id=thread_id)][1:] == [
        "Our VM vm-17 is unreachable",
        "Still down, any news?",
    ]
    assert len(fake_api.requests_of("createForumTopic")) == 1
    assert len(acknowledgements(fake_api)) == 1

    def both_delivered() -> bool:
        return (
            count(
                bot,
                "SELECT count(*) FROM messages WHERE direction='from_client' "
                "AND delivery='delivered'",
            )
            == 2
        )

    await eventually(both_delivered, bot, fake_api, "both client messages are delivered")
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    assert count(bot, "SELECT count(DISTINCT ticket_id) FROM messages") == 1
    assert_no_fake_trouble(fake_api)


async def test_a_crash_in_a_burst_loses_no_message_and_records_none_twice(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    burst = fake_api.push(
        *(
            client_says(fake_api, f"Burst message {n}", at=CLIENT_AT + timedelta(seconds=n))
            for n in range(1, 6)
        )
    )
    sent_ids = {u["message"]["message_id"] for u in burst}
    assert len(sent_ids) == 5

    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=WAIT)
    bot.kill()
    await bot.wait()
    await bot.start()

    def all_delivered() -> bool:
        return (
            count(
                bot,
                "SELECT count(*) FROM messages WHERE direction='from_client' "
                "AND delivery='delivered'",
            )
            == 5
        )

    await eventually(all_delivered, bot, fake_api, "all five messages are delivered")
    await fake_api.wait_confirmed(timeout=WAIT)
    rows = bot.query(
        "SELECT count(*), count(DISTINCT telegram_message_id) FROM messages "
        "WHERE direction='from_client'"
    )
    assert rows == [(5, 5)]
    recorded = {
        mid
        for (mid,) in bot.query(
            "SELECT telegram_message_id FROM messages WHERE direction='from_client'"
        )
    }
    assert recorded == sent_ids
    copied = {r.params["message_id"] for r in copies_to_support(fake_api)}
    assert copied == sent_ids, f"not copied: {sent_ids - copied}"
    assert count(bot, "SELECT count(*) FROM tickets") == 1
    [(thread_id,)] = bot.query("SELECT topic_thread_id FROM tickets")
    assert {r.params.get("message_thread_id") for r in copies_to_support(fake_api)} == {thread_id}


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
    assert count(bot, "SELECT count(*) FROM tickets") == 0
    assert fake_api.requests_of("createForumTopic") == []
    assert_no_fake_trouble(fake_api)


async def test_a_client_using_an_engineer_command_is_refused(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.push_update(client_says(fake_api, "/resolve"))

    [refusal] = await fake_api.wait_sent(CLIENT_ID, timeout=WAIT)
    assert "support engineers" in (refusal.text or ""), refusal.text
    await fake_api.wait_confirmed(timeout=WAIT)
    assert len(fake_api.sent_to(CLIENT_ID)) == 1
    assert count(bot, "SELECT count(*) FROM tickets") == 0
    assert fake_api.sent_to(SUPPORT_CHAT_ID) == []
    assert_no_fake_trouble(fake_api)


# -- 7. graceful stop ----------------------------------------------------------------------


async def test_sigterm_finishes_the_update_in_flight_before_exiting(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot = await start_desk(bot_process_factory, fake_api)
    fake_api.delay("createForumTopic", 2)
    update = fake_api.push_update(client_says(fake_api, "Our VM vm-17 is unreachable"))
    await request_arrives(fake_api, "createForumTopic")

    assert await bot.stop() == 0, bot.tail()

    assert count(bot, "SELECT count(*) FROM tickets") == 1, bot.tail()
    rows = bot.query(
        "SELECT telegram_message_id, delivery FROM messages WHERE direction='from_client'"
    )
    assert rows == [(update["message"]["message_id"], "delivered")], bot.tail()
    [copy] = copies_to_support(fake_api)
    assert copy.params["message_id"] == update["message"]["message_id"]
    assert copy.params["message_thread_id"] == the_topic(fake_api)
    assert len(acknowledgements(fake_api)) == 1
    assert "stopped_with_updates_in_flight" not in bot.stderr()
