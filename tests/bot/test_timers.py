"""Live SLA clocks: each alert once, at its time, and late ones after downtime."""

from __future__ import annotations

from datetime import timedelta

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import BotSettings
from bot.timers import queue_alerts
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100


def texts(bot: MockedBot, chat_id: int, since: int = 0) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage")[since:] if m.chat_id == chat_id]


async def scan_at(
    minutes: float,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: BotSettings,
    i18n: I18n,
    dispatcher: Desk,
) -> int:
    async with sessionmaker() as session:
        count = await queue_alerts(
            session, settings, i18n, updates.now + timedelta(minutes=minutes)
        )
        await session.commit()
    await dispatcher.worker.drain()
    return count


async def test_warning_breach_and_escalation_each_come_once_at_their_time(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    settings = settings.model_copy(update={"duty_engineers": ("@dana",)})
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))

    assert await scan_at(6.9, updates, sessionmaker, settings, i18n, dispatcher) == 0
    assert await scan_at(7, updates, sessionmaker, settings, i18n, dispatcher) == 1
    assert "3 minutes left for the first response target" in texts(bot, SUPPORT_CHAT_ID)[-1]
    assert await scan_at(8, updates, sessionmaker, settings, i18n, dispatcher) == 0

    # "Up to 10 minutes" (A 5.2): an answer at the tenth minute still meets the target.
    assert await scan_at(10, updates, sessionmaker, settings, i18n, dispatcher) == 0
    sent_before = len(bot.session.sent("sendMessage"))
    assert await scan_at(10.1, updates, sessionmaker, settings, i18n, dispatcher) == 1
    breach = {
        m.message_thread_id: m.text
        for m in bot.session.sent("sendMessage")[sent_before:]
        if m.chat_id == SUPPORT_CHAT_ID
    }
    # In the ticket's topic, and in the general topic with the engineers on duty mentioned.
    assert set(breach) == {TOPIC, None}
    assert all("target is missed" in text for text in breach.values())
    assert breach[None].endswith("@dana")
    # …and a link that opens the ticket's topic (the group's id without its -100 prefix).
    chat = str(SUPPORT_CHAT_ID).removeprefix("-100")
    assert f"https://t.me/c/{chat}/{TOPIC} " in breach[None]

    assert await scan_at(20, updates, sessionmaker, settings, i18n, dispatcher) == 1
    assert "was missed 10 minutes ago" in texts(bot, MANAGER_ID)[-1]
    assert await scan_at(60, updates, sessionmaker, settings, i18n, dispatcher) == 0


async def test_after_downtime_due_alerts_are_sent_once_marked_late(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))

    assert await scan_at(60, updates, sessionmaker, settings, i18n, dispatcher) == 3
    late = [t for t in texts(bot, SUPPORT_CHAT_ID) if "late: the bot was not running" in t]
    assert len(late) == 4  # warning, breach, escalation in the topic; breach in general
    assert len([t for t in texts(bot, MANAGER_ID) if "late" in t]) == 1
    assert await scan_at(61, updates, sessionmaker, settings, i18n, dispatcher) == 0


async def test_an_answered_ticket_raises_no_alerts(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await dispatcher.feed_update(
        bot, updates.group("Looking", thread_id=TOPIC, date=updates.now + timedelta(minutes=2))
    )
    assert await scan_at(30, updates, sessionmaker, settings, i18n, dispatcher) == 0


async def test_client_writing_again_keeps_the_clock_and_tells_the_engineers(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await dispatcher.feed_update(
        bot, updates.private(CLIENT, "hello??", date=updates.now + timedelta(minutes=6))
    )
    assert "The client wrote again, waiting 6 minutes." in texts(bot, SUPPORT_CHAT_ID)[-1]


async def test_board_lists_open_tickets_by_time_left(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(
        bot, updates.private(CLIENT, "later one", date=updates.now + timedelta(minutes=5))
    )
    await dispatcher.feed_update(bot, updates.private(700002, "earlier one"))
    await dispatcher.feed_update(bot, updates.group("/take", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.group("/board"))

    board = texts(bot, SUPPORT_CHAT_ID)[-1].splitlines()
    assert board[0] == "Open tickets: 2"
    assert board[1].startswith("#2 ·") and "unassigned" in board[1]
    assert board[2].startswith("#1 ·") and "taken by Dana" in board[2]
