"""The outbox worker: Telegram's limits, per-chat order, retries, merging, failures."""

from __future__ import annotations

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import OutboxWorker, RateLimiter, RateLimits
from crm.models import Purpose
from crm.outbox import Outbox
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_private_chat_gets_at_most_one_message_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock)
    assert limiter.wait_time(CLIENT) == 0
    limiter.record(CLIENT)
    assert limiter.wait_time(CLIENT) == 1.0
    assert limiter.wait_time(700002) == 0  # other chats are not held back
    clock.now += 1.0
    assert limiter.wait_time(CLIENT) == 0


def test_a_group_gets_twenty_messages_a_minute_across_its_topics() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(overall_per_second=1000), clock)
    for _ in range(20):
        assert limiter.wait_time(SUPPORT_CHAT_ID) == 0
        limiter.record(SUPPORT_CHAT_ID)
        clock.now += 0.5
    assert limiter.wait_time(SUPPORT_CHAT_ID) == 50.0  # the first of the 20 leaves the window


def test_thirty_messages_a_second_overall() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock)
    for chat in range(1, 31):
        assert limiter.wait_time(chat) == 0
        limiter.record(chat)
    assert limiter.wait_time(31) == 1.0


async def queue_texts(
    sessionmaker: async_sessionmaker[AsyncSession], chat: int, *texts: str
) -> None:
    async with sessionmaker() as session:
        outbox = Outbox(session)
        for text in texts:
            outbox.send_message(chat, text, purpose=Purpose.NOTICE)
        await session.commit()


def worker(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, **limits: float
) -> OutboxWorker:
    return OutboxWorker(
        bot,
        sessionmaker,
        i18n,
        "en",
        RateLimits(
            **{
                "overall_per_second": 1000,
                "private_per_second": 1000,
                "group_per_minute": 1000,
                **limits,
            }
        ),
        backoff_seconds=0,
    )


async def test_order_within_a_chat_survives_a_429(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, database_url: str
) -> None:
    bot.session.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await queue_texts(sessionmaker, CLIENT, "first", "second", "third")
    await worker(bot, sessionmaker, i18n).drain()

    assert [m.text for m in bot.session.sent("sendMessage")] == ["first", "second", "third"]
    assert rows(database_url, "select status, attempts from outbox order by id") == [
        ("sent", 2),
        ("sent", 1),
        ("sent", 1),
    ]


async def test_server_errors_are_retried_and_permanent_ones_recorded(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, database_url: str
) -> None:
    bot.session.fail("sendMessage", 502, "Bad Gateway", times=2)
    await queue_texts(sessionmaker, CLIENT, "survives")
    await worker(bot, sessionmaker, i18n).drain()
    bot.session.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await queue_texts(sessionmaker, 700002, "blocked")
    await worker(bot, sessionmaker, i18n).drain()

    assert rows(
        database_url, "select chat_id, status, attempts, error from outbox order by id"
    ) == [
        (CLIENT, "sent", 3, None),
        (700002, "failed", 1, "Forbidden: bot was blocked by the user"),
    ]


async def test_plain_texts_waiting_behind_a_spent_group_budget_are_merged(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    clock = FakeClock()
    dispatcher.worker = worker(bot, sessionmaker, i18n, group_per_minute=3)
    dispatcher.worker.limiter = RateLimiter(
        RateLimits(overall_per_second=1000, private_per_second=1000, group_per_minute=3), clock
    )
    await dispatcher.feed_update(bot, updates.private(CLIENT, "one"))  # topic, header, copy
    for text in ("two", "three", "four"):
        await dispatcher.dispatcher.feed_update(bot, updates.private(CLIENT, text))
    await dispatcher.worker.deliver_once()  # the group's 3 a minute are spent: copies merge

    assert rows(
        database_url, "select id, status, merged_into from outbox where purpose='copy_in'"
    ) == [(4, "sent", None), (5, "pending", None), (7, "merged", 5), (9, "merged", 5)]

    clock.now += 60
    await dispatcher.worker.drain()
    to_group = [m.text for m in bot.session.sent("sendMessage") if m.chat_id == SUPPORT_CHAT_ID]
    # One message: the copies and the "wrote again" notices between them, in order.
    merged = to_group[-1].split("\n\n")
    assert [part for part in merged if "wrote again" not in part] == ["two", "three", "four"]
    assert len(merged) == 6
    # Every merged client message counts as delivered, so replies to it map to the ticket.
    assert (
        rows(database_url, "select delivery from messages where direction='from_client'")
        == [("delivered",)] * 4
    )
