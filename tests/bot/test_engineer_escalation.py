"""The managers' escalation says whose ticket it is, who has it, and where the topic is."""

from __future__ import annotations

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import BotSettings
from tests.bot.test_timers import CLIENT, TOPIC, scan_at, texts
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.mocked_bot import MockedBot

TOPIC_LINK = f"https://t.me/c/1000000001/{TOPIC}"  # the supergroup -1001000000001 without -100


async def test_an_escalation_names_the_customer_nobody_and_links_the_topic(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await scan_at(20, updates, sessionmaker, settings, i18n, dispatcher)

    escalation = texts(bot, MANAGER_ID)[-1]
    assert "was missed" in escalation
    assert "Customer: unknown customer; assignee: nobody took it." in escalation
    assert escalation.endswith(TOPIC_LINK)


async def test_an_escalation_names_the_engineer_who_took_the_ticket(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await dispatcher.feed_update(bot, updates.group("/take", thread_id=TOPIC))
    await scan_at(20, updates, sessionmaker, settings, i18n, dispatcher)

    assert "assignee: Dana." in texts(bot, MANAGER_ID)[-1]
