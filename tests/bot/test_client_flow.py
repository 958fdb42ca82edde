"""A client's message becomes a ticket, a topic and a copy, exactly once."""

from __future__ import annotations

from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001


async def test_first_message_opens_ticket_topic_and_copy(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "Our server does not answer"))

    topics = bot.session.sent("createForumTopic")
    assert len(topics) == 1
    assert topics[0].name.startswith("#1 · ")
    copies = bot.session.sent("copyMessage")
    assert [(c.chat_id, c.from_chat_id, c.message_thread_id) for c in copies] == [
        (SUPPORT_CHAT_ID, CLIENT, 100)
    ]
    acks = [m for m in bot.session.sent("sendMessage") if m.chat_id == CLIENT]
    assert len(acks) == 1
    assert "#1" in acks[0].text and "10 minutes" in acks[0].text
    assert rows(database_url, "select id, channel, status, opened_at from tickets") == [
        (1, "telegram", "open", "2026-11-02 09:00:00.000000")
    ]


async def test_same_update_twice_makes_one_ticket_and_one_copy(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    update = updates.private(CLIENT, "hello")
    await dispatcher.feed_update(bot, update)
    await dispatcher.feed_update(bot, update)

    assert len(bot.session.sent("copyMessage")) == 1
    assert rows(database_url, "select count(*) from tickets") == [(1,)]
    assert rows(database_url, "select count(*) from messages where direction='from_client'") == [
        (1,)
    ]
