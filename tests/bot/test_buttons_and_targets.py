"""Pressed buttons are answered at once and their messages edited through the outbox;
targets in replies come from the SLA configuration."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notices import RENDERERS
from crm.usecases.notices import Notice
from tests.bot.test_incidents import OCT_2, linked_client
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def test_a_rating_edits_the_buttons_message_through_the_outbox(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "rate:1:4", message_id=77))

    assert [a.show_alert for a in bot.session.sent("answerCallbackQuery")] == [None]
    edits = bot.session.sent("editMessageText")
    assert [(e.chat_id, e.message_id, e.text) for e in edits] == [
        (CLIENT, 77, "Thank you for your rating!")
    ]
    assert rows(
        database_url, "select chat_id, status from outbox where method = 'editMessageText'"
    ) == [(CLIENT, "sent")]


async def test_a_language_choice_answers_in_the_chosen_language(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/lang"))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "lang:ru", message_id=5))

    assert bot.session.sent("editMessageText")[-1].text == "Язык изменён."
    assert rows(database_url, "select chosen_language from contacts") == [("ru",)]


async def test_the_restoration_target_is_worded_from_the_sla_targets(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))
    later = OCT_2 + timedelta(minutes=5)
    for kind in ("reboot", "repair"):
        await dispatcher.feed_update(
            bot, updates.group(f"/restoration {kind}", thread_id=TOPIC, date=later)
        )

    # Each answer in the ticket's topic, and again in the outage's room.
    reboot = "Outage #1: restoration by reboot, target 45 minutes from confirmation."
    repair = "Outage #1: restoration by repair, target 8 hours from confirmation."
    said = [text for text in replies(bot, SUPPORT_CHAT_ID) if "restoration by" in text]
    assert said == [reboot, reboot, repair, repair]


async def test_outage_commands_before_any_outage_say_how_to_open_one(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.group("/confirm hardware", thread_id=TOPIC))

    assert "#1 has no outage yet" in replies(bot, SUPPORT_CHAT_ID)[-1]
    assert rows(database_url, "select count(*) from incidents") == [(0,)]


def test_every_notice_has_words() -> None:
    assert set(get_args(Notice)) == set(RENDERERS)
