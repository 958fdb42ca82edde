"""The outbox worker: Telegram's limits, per-chat order, retries, merging, failures."""

from __future__ import annotations

import pytest
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import OutboxWorker, RateLimiter, RateLimits
from crm.models import Purpose
from crm.outbox import Outbox
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.fake_clock import FakeClock
from tests.mocked_bot import MockedBot

CLIENT = 700001


def test_a_private_chat_gets_at_most_one_message_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock.monotonic)
    assert limiter.wait_time(CLIENT) == 0
    limiter.record(CLIENT)
    assert limiter.wait_time(CLIENT) == 1.0
    assert limiter.wait_time(700002) == 0  # other chats are not held back
    clock.advance(1.0)
    assert limiter.wait_time(CLIENT) == 0


def test_a_group_gets_twenty_messages_a_minute_across_its_topics() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(overall_per_second=1000), clock.monotonic)
    for _ in range(20):
        assert limiter.wait_time(SUPPORT_CHAT_ID) == 0
        limiter.record(SUPPORT_CHAT_ID)
        clock.advance(0.5)
    assert limiter.wait_time(SUPPORT_CHAT_ID) == 50.0  # the first of the 20 leaves the window


def test_thirty_messages_a_second_overall() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock.monotonic)
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
    bot: MockedBot,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    clock: FakeClock,
    **limits: float,
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
        backoff_seconds=2,
        clock=clock,
    )


def texts_sent(bot: MockedBot, chat: int) -> list[str | None]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat]


async def test_after_a_429_nothing_goes_to_the_chat_before_telegrams_time_and_order_holds(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, database_url: str
) -> None:
    clock = FakeClock()
    delivery = worker(bot, sessionmaker, i18n, clock)
    bot.session.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
    await queue_texts(sessionmaker, CLIENT, "first", "second", "third")

    await delivery.deliver_once()
    clock.advance(4.9)
    await delivery.deliver_once()
    assert texts_sent(bot, CLIENT) == []  # the rows behind the refused one wait with it

    clock.advance(0.1)
    await delivery.drain()
    assert texts_sent(bot, CLIENT) == ["first", "second", "third"]
    assert rows(database_url, "select status, attempts from outbox order by id") == [
        ("sent", 2),
        ("sent", 1),
        ("sent", 1),
    ]


async def test_server_errors_are_retried_and_permanent_ones_recorded(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, database_url: str
) -> None:
    clock = FakeClock()
    delivery = worker(bot, sessionmaker, i18n, clock)
    bot.session.fail("sendMessage", 502, "Bad Gateway", times=2)
    await queue_texts(sessionmaker, CLIENT, "survives")
    await delivery.drain()
    bot.session.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await queue_texts(sessionmaker, 700002, "blocked")
    await delivery.drain()

    assert texts_sent(bot, CLIENT) == ["survives"]
    assert rows(
        database_url, "select chat_id, status, attempts, error from outbox order by id"
    ) == [
        (CLIENT, "sent", 3, None),
        (700002, "failed", 1, "Forbidden: bot was blocked by the user"),
    ]


async def test_a_report_request_is_left_for_a_worker_that_can_build_it(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n, database_url: str
) -> None:
    async with sessionmaker() as session:
        Outbox(session).request_report(MANAGER_ID, "2026-10")
        Outbox(session).send_message(MANAGER_ID, "after it", purpose=Purpose.REPLY)
        await session.commit()

    await worker(bot, sessionmaker, i18n, FakeClock()).drain()

    # A request is not a message: it holds nothing back and is never sent as such.
    assert texts_sent(bot, MANAGER_ID) == ["after it"]
    assert rows(database_url, "select method, status from outbox order by id") == [
        ("sendReport", "pending"),
        ("sendMessage", "sent"),
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
    dispatcher.worker = worker(bot, sessionmaker, i18n, clock, group_per_minute=3)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "one"))  # topic, header, copy
    for text in ("two", "three", "four"):
        await dispatcher.dispatcher.feed_update(bot, updates.private(CLIENT, text))
    await dispatcher.worker.deliver_once()  # the group's 3 a minute are spent: copies merge

    copies = rows(
        database_url,
        "select id, status, merged_into from outbox where purpose='copy_in' order by id",
    )
    head = copies[1][0]
    assert [(status, into) for _id, status, into in copies] == [
        ("sent", None),
        ("pending", None),
        ("merged", head),
        ("merged", head),
    ]

    clock.advance(60)
    await dispatcher.worker.drain()
    to_group = texts_sent(bot, SUPPORT_CHAT_ID)
    # One message: the copies and the "wrote again" notices between them, in order.
    merged = (to_group[-1] or "").split("\n\n")
    assert [part for part in merged if "wrote again" not in part] == ["two", "three", "four"]
    assert len(merged) == 6
    # Every merged client message counts as delivered, so replies to it map to the ticket.
    assert (
        rows(database_url, "select delivery from messages where direction='from_client'")
        == [("delivered",)] * 4
    )


async def test_a_short_group_budget_goes_to_an_alert_before_a_new_tickets_topic(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    clock = FakeClock()
    dispatcher.worker = worker(bot, sessionmaker, i18n, clock, group_per_minute=1)
    await dispatcher.dispatcher.feed_update(bot, updates.private(CLIENT, "hello"))
    async with sessionmaker() as session:
        Outbox(session).send_message(SUPPORT_CHAT_ID, "overdue!", purpose=Purpose.ALERT)
        await session.commit()

    await dispatcher.worker.deliver_once()
    assert texts_sent(bot, SUPPORT_CHAT_ID) == ["overdue!"]
    assert bot.session.sent("createForumTopic") == []
    clock.advance(60)
    await dispatcher.worker.deliver_once()
    assert len(bot.session.sent("createForumTopic")) == 1


def copies_in_group(bot: MockedBot) -> list[int]:
    """The client's messages copied into the support group, by their ids, in order."""
    return [m.message_id for m in bot.session.sent("copyMessage") if m.chat_id == SUPPORT_CHAT_ID]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client_wrote_again(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    clock: FakeClock,
) -> list[int]:
    """A client's ticket with its topic made, and four more messages of theirs recorded,
    their copies waiting; their ids, in order."""
    dispatcher.worker = worker(bot, sessionmaker, i18n, clock)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "one"))  # topic, header, copy
    written = [updates.private(CLIENT, text) for text in ("two", "three", "four", "five")]
    for update in written:
        await dispatcher.dispatcher.feed_update(bot, update)
    return [update.message.message_id for update in written if update.message is not None]


async def test_a_clients_messages_waiting_together_reach_the_topic_in_one_round_in_order(
    dispatcher: Desk, bot: MockedBot, client_wrote_again: list[int]
) -> None:
    # A burst's client is not made to wait one round per message: one round sends them all,
    # one after the other in the topic.
    await dispatcher.worker.deliver_once()
    assert copies_in_group(bot)[1:] == client_wrote_again


async def test_a_failed_copy_holds_back_the_ones_behind_it_in_its_topic(
    dispatcher: Desk,
    bot: MockedBot,
    client_wrote_again: list[int],
    clock: FakeClock,
    database_url: str,
) -> None:
    bot.session.fail("copyMessage", 502, "Bad Gateway")

    await dispatcher.worker.deliver_once()
    # "two" failed: the copies behind it were neither sent past it nor tried.
    assert copies_in_group(bot)[1:] == []
    assert rows(
        database_url, "select status, attempts from outbox where purpose='copy_in' order by id"
    ) == [("sent", 1), ("pending", 1), ("pending", 0), ("pending", 0), ("pending", 0)]

    clock.advance(2)
    await dispatcher.worker.drain()
    assert copies_in_group(bot)[1:] == client_wrote_again


async def test_with_telegrams_group_budget_a_topic_still_sends_one_row_a_round(
    dispatcher: Desk,
    bot: MockedBot,
    client_wrote_again: list[int],
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    clock: FakeClock,
) -> None:
    # 20 a minute for the group: the rows behind a topic's head wait, so that when the
    # budget runs out they merge into one message instead of spending it one by one.
    dispatcher.worker = worker(
        bot, sessionmaker, i18n, clock, overall_per_second=30, group_per_minute=20
    )
    await dispatcher.worker.deliver_once()
    assert copies_in_group(bot)[1:] == client_wrote_again[:1]
