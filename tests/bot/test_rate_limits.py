"""Telegram's limits as budgets: kept in Redis and shared by every instance, or in-process
and seeded after a restart from what the outbox sent in the last minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import OutboxWorker
from bot.rate_limits import Limiter, RateLimiter, RateLimits, RedisRateLimiter
from crm.models import Purpose
from crm.outbox import Outbox
from tests.conftest import SUPPORT_CHAT_ID
from tests.fake_clock import FakeClock
from tests.mocked_bot import MockedBot
from tests.redis_server import redis_server

CLIENT = 700001
GROUP = RateLimits(overall_per_second=1000, private_per_second=1, group_per_minute=5)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    """A fresh key space per test (one server for the module)."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    yield "desk:rate:test"


def shared(redis_url: str, namespace: str, clock: FakeClock, limits: RateLimits) -> Limiter:
    """One instance's limiter: its own connection to the shared Redis."""
    return RedisRateLimiter.from_url(redis_url, limits, namespace, clock.monotonic)


async def reserved(limiter: Limiter, chat_id: int, times: int = 1) -> int:
    grants = await limiter.reserve([chat_id] * times)
    return sum(1 for grant in grants if grant.reservation is not None)


async def test_two_limiters_on_one_redis_never_exceed_the_group_budget_together(
    redis_url: str, namespace: str
) -> None:
    clock = FakeClock()
    a, b = (shared(redis_url, namespace, clock, GROUP) for _ in range(2))
    try:
        # Both instances ask for the group's slots at the same moment, many times over.
        results = await asyncio.gather(
            *(reserved(limiter, SUPPORT_CHAT_ID) for _ in range(10) for limiter in (a, b))
        )
        assert sum(results) == 5
        waits = await b.reserve([SUPPORT_CHAT_ID])
        assert waits[0].reservation is None and waits[0].wait == 60.0

        clock.advance(60)  # the first sends leave the window: a new minute's budget
        assert await reserved(a, SUPPORT_CHAT_ID, 3) + await reserved(b, SUPPORT_CHAT_ID, 3) == 5
    finally:
        await a.close()
        await b.close()


async def test_an_instance_restarted_at_once_finds_the_groups_minute_in_redis(
    redis_url: str, namespace: str
) -> None:
    clock = FakeClock()
    before = shared(redis_url, namespace, clock, GROUP)
    assert await reserved(before, SUPPORT_CHAT_ID, 3) == 3
    await before.close()
    clock.advance(10)
    after = shared(redis_url, namespace, clock, GROUP)
    try:
        await after.seed([])  # nothing to seed: the windows outlived the process
        assert await reserved(after, SUPPORT_CHAT_ID, 5) == 2
    finally:
        await after.close()


async def test_a_send_holds_its_place_until_a_window_after_telegram_answered(
    redis_url: str, namespace: str
) -> None:
    clock = FakeClock()
    limiter = shared(redis_url, namespace, clock, GROUP)
    other = shared(redis_url, namespace, clock, GROUP)
    try:
        grants = await limiter.reserve([SUPPORT_CHAT_ID] * 5)
        slow = grants[0].reservation
        assert slow is not None
        clock.advance(1)
        await slow.restamp()  # the request leaves
        clock.advance(29)
        await slow.restamp()  # Telegram answers 30 s later
        clock.advance(30)
        # A minute after the reservations: four places are free, the slow send's is not
        # until a minute after its answer.
        assert await reserved(other, SUPPORT_CHAT_ID, 5) == 4
        assert (await other.reserve([SUPPORT_CHAT_ID]))[0].wait == 30.0
    finally:
        await limiter.close()
        await other.close()


async def test_a_reservation_not_used_is_given_back_to_every_instance(
    redis_url: str, namespace: str
) -> None:
    clock = FakeClock()
    a, b = (shared(redis_url, namespace, clock, GROUP) for _ in range(2))
    try:
        grants = await a.reserve([SUPPORT_CHAT_ID] * 5)
        assert await reserved(b, SUPPORT_CHAT_ID) == 0
        # Instance b took the row first: a's place for it is freed.
        taken = grants[0].reservation
        assert taken is not None
        await taken.release()
        assert await reserved(b, SUPPORT_CHAT_ID) == 1
    finally:
        await a.close()
        await b.close()


async def test_private_chats_and_the_overall_budget_are_shared_too(
    redis_url: str, namespace: str
) -> None:
    clock = FakeClock()
    limits = RateLimits(overall_per_second=3, private_per_second=1, group_per_minute=20)
    a, b = (shared(redis_url, namespace, clock, limits) for _ in range(2))
    try:
        assert await reserved(a, CLIENT) == 1
        assert (await b.reserve([CLIENT]))[0].wait == 1.0  # one a second per private chat
        assert await reserved(b, CLIENT + 1) == 1
        assert await reserved(a, SUPPORT_CHAT_ID) == 1
        # Three sends this second, from both instances: nobody sends a fourth.
        assert (await b.reserve([CLIENT + 2]))[0].wait == 1.0
        clock.advance(1)
        assert await reserved(b, CLIENT) == 1
    finally:
        await a.close()
        await b.close()


async def test_two_bots_on_one_redis_keep_their_own_budgets(redis_url: str, namespace: str) -> None:
    clock = FakeClock()
    first = shared(redis_url, namespace, clock, GROUP)
    second = RedisRateLimiter.from_url(redis_url, GROUP, namespace + "2", clock.monotonic)
    try:
        assert await reserved(first, SUPPORT_CHAT_ID, 6) == 5
        assert await reserved(second, SUPPORT_CHAT_ID, 6) == 5
    finally:
        await first.close()
        await second.close()


async def test_without_redis_nothing_is_sent_and_delivery_tries_again_soon() -> None:
    clock = FakeClock()
    # Nothing listens there: the budget cannot be checked, so nothing may be sent.
    limiter = RedisRateLimiter(
        Redis(host="127.0.0.1", port=9, socket_connect_timeout=1),
        GROUP,
        "desk:rate:down",
        clock.monotonic,
    )
    try:
        grants = await limiter.reserve([SUPPORT_CHAT_ID, CLIENT])
        assert [grant.reservation for grant in grants] == [None, None]
        assert all(0 < grant.wait <= 1 for grant in grants)
    finally:
        await limiter.close()


async def test_the_in_process_limiter_frees_a_reservation_not_used() -> None:
    clock = FakeClock()
    limiter = RateLimiter(GROUP, clock.monotonic)
    grants = await limiter.reserve([SUPPORT_CHAT_ID] * 6)
    assert [grant.reservation is not None for grant in grants] == [True] * 5 + [False]
    first = grants[0].reservation
    assert first is not None
    await first.release()
    assert await reserved(limiter, SUPPORT_CHAT_ID, 2) == 1


# -- the worker --------------------------------------------------------------------------------


async def queue_texts(sessionmaker: async_sessionmaker[AsyncSession], chat: int, n: int) -> None:
    async with sessionmaker() as session:
        outbox = Outbox(session)
        for k in range(n):
            outbox.send_message(chat, f"notice {k}", purpose=Purpose.NOTICE)
        await session.commit()


def group_sends(bot: MockedBot) -> int:
    return sum(1 for m in bot.session.sent("sendMessage") if m.chat_id == SUPPORT_CHAT_ID)


def make_worker(
    bot: MockedBot,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    clock: FakeClock,
    limiter: Limiter | None = None,
) -> OutboxWorker:
    return OutboxWorker(bot, sessionmaker, i18n, "en", GROUP, clock=clock, limiter=limiter)


async def test_two_workers_on_one_redis_send_the_group_its_budget_once(
    bot: MockedBot,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    redis_url: str,
    namespace: str,
) -> None:
    clock = FakeClock()
    workers = [
        make_worker(bot, sessionmaker, i18n, clock, shared(redis_url, namespace, clock, GROUP))
        for _ in range(2)
    ]
    try:
        # A notice at a time, each worker looking in turn (texts waiting behind merge).
        for _ in range(8):
            await queue_texts(sessionmaker, SUPPORT_CHAT_ID, 1)
            for worker in workers:
                await worker.deliver_once()
        assert group_sends(bot) == 5
        clock.advance(60)
        for worker in workers:
            await worker.deliver_once()
        assert group_sends(bot) > 5
    finally:
        for worker in workers:
            await worker.limiter.close()


async def test_a_restarted_worker_does_not_overspend_the_groups_minute(
    bot: MockedBot, sessionmaker: async_sessionmaker[AsyncSession], i18n: I18n
) -> None:
    clock = FakeClock()
    before = make_worker(bot, sessionmaker, i18n, clock)
    for _ in range(3):
        await queue_texts(sessionmaker, SUPPORT_CHAT_ID, 1)
        await before.deliver_once()
        clock.advance(10)
    assert group_sends(bot) == 3

    # The process restarts 10 s after its last send: a new limiter, seeded from the outbox.
    after = make_worker(bot, sessionmaker, i18n, clock)
    await after.seed_limits([SUPPORT_CHAT_ID])
    for _ in range(4):
        await queue_texts(sessionmaker, SUPPORT_CHAT_ID, 1)
        await after.deliver_once()
    assert group_sends(bot) == 5  # two more this minute, not five

    clock.advance(30)  # the sends before the restart have left the window
    await after.deliver_once()
    assert group_sends(bot) > 5
