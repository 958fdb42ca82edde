"""A ticket's topic shows its state; a note shows it stayed internal."""

from __future__ import annotations

from aiogram.methods import CloseForumTopic, EditForumTopic, ReopenForumTopic, SetMessageReaction

from tests.bot.test_engineer_flow import CLIENT, TOPIC, open_ticket
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot


def reactions(bot: MockedBot) -> list[tuple[int, int, list[str]]]:
    sent: list[SetMessageReaction] = bot.session.sent("setMessageReaction")
    return [(m.chat_id, m.message_id, [r.emoji for r in m.reaction or []]) for m in sent]  # type: ignore[union-attr]


def topic_names(bot: MockedBot) -> list[str]:
    renames: list[EditForumTopic] = bot.session.sent("editForumTopic")
    return [m.name or "" for m in renames]


async def test_a_note_and_an_exclamation_are_marked_with_a_writing_hand(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await open_ticket(dispatcher, bot, updates)
    note = updates.group("/note checking the switch", thread_id=TOPIC)
    bang = updates.group("!looks like the PSU", thread_id=TOPIC)
    reply = updates.group("Rebooting now", thread_id=TOPIC)
    for update in (note, bang, reply):
        await dispatcher.feed_update(bot, update)

    assert note.message is not None and bang.message is not None
    assert reactions(bot) == [
        (SUPPORT_CHAT_ID, note.message.message_id, ["✍"]),
        (SUPPORT_CHAT_ID, bang.message.message_id, ["✍"]),
    ]


async def test_a_resolved_ticket_closes_its_topic_and_reopen_opens_it_again(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))

    closed: list[CloseForumTopic] = bot.session.sent("closeForumTopic")
    assert [(m.chat_id, m.message_thread_id) for m in closed] == [(SUPPORT_CHAT_ID, TOPIC)]
    assert topic_names(bot)[-1].startswith("✅ #1 · ")

    await dispatcher.feed_update(bot, updates.group("/reopen", thread_id=TOPIC))
    reopened: list[ReopenForumTopic] = bot.session.sent("reopenForumTopic")
    assert [(m.chat_id, m.message_thread_id) for m in reopened] == [(SUPPORT_CHAT_ID, TOPIC)]
    assert topic_names(bot)[-1].startswith("#1 · ")


async def test_the_client_writing_again_reopens_the_topic(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "It is down again"))

    assert rows(database_url, "select status from tickets") == [("open",)]
    assert len(bot.session.sent("reopenForumTopic")) == 1
    assert topic_names(bot)[-1].startswith("#1 · ")


async def test_the_client_closing_closes_the_topic(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/close"))

    assert len(bot.session.sent("closeForumTopic")) == 1
    assert topic_names(bot)[-1].startswith("✅ #1 · ")


async def test_a_group_without_topics_resolves_without_closing_anything(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    bot.session.forum = False
    await open_ticket(dispatcher, bot, updates)
    header_id = rows(database_url, "select header_message_id from tickets")[0][0]
    await dispatcher.feed_update(bot, updates.group("/resolve", reply_to=header_id))

    assert rows(database_url, "select status from tickets") == [("resolved",)]
    assert bot.session.sent("closeForumTopic") == []
    assert bot.session.sent("editForumTopic") == []
    # Only the topic Telegram refused at the start; nothing queued for the topic fails.
    failed = rows(database_url, "select method from outbox where status = 'failed'")
    assert failed == [("createForumTopic",)]
