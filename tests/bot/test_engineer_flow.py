"""Engineers answer in the ticket's topic; what they write reaches the client, notes do not."""

from __future__ import annotations

from datetime import timedelta

from aiogram.methods import CopyMessage, SendMessage
from aiogram.types import Update

from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100  # the first thread id the mocked session hands out


def texts_to(bot: MockedBot, chat_id: int) -> list[str]:
    return [
        m.text
        for m in bot.session.sent("sendMessage")
        if isinstance(m, SendMessage) and m.chat_id == chat_id
    ]


async def open_ticket(dispatcher: Desk, bot: MockedBot, updates: Updates) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "Server is down"))


async def test_engineer_reply_is_copied_to_client_and_is_the_first_response(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    replied_at = updates.now + timedelta(minutes=4)
    await dispatcher.feed_update(
        bot, updates.group("Rebooting it now", thread_id=TOPIC, date=replied_at)
    )

    to_client = [
        m
        for m in bot.session.sent("copyMessage")
        if isinstance(m, CopyMessage) and m.chat_id == CLIENT
    ]
    assert [(m.from_chat_id, m.chat_id) for m in to_client] == [(SUPPORT_CHAT_ID, CLIENT)]
    assert rows(database_url, "select first_response_at from tickets") == [
        ("2026-11-02 09:04:00.000000",)
    ]
    assert ("first_response",) in rows(database_url, "select kind from ticket_events")


async def test_notes_never_reach_the_client_and_do_not_count_as_a_response(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/note checking the switch", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.group("!looks like the PSU", thread_id=TOPIC))

    assert [m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT] == []
    assert rows(database_url, "select first_response_at from tickets") == [(None,)]
    assert rows(database_url, "select direction, text from messages where direction='note'") == [
        ("note", "/note checking the switch"),
        ("note", "!looks like the PSU"),
    ]


async def test_resolve_tells_client_and_offers_rating_then_rating_closes(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/take", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))

    resolved_notice = [m for m in bot.session.sent("sendMessage") if m.chat_id == CLIENT][-1]
    assert "resolved" in resolved_notice.text
    assert resolved_notice.reply_markup is not None
    assert rows(database_url, "select status, assignee_telegram_id from tickets") == [
        ("resolved", 500001)
    ]

    await dispatcher.feed_update(bot, updates.callback(CLIENT, "rate:1:5"))
    assert rows(database_url, "select status, rating from tickets") == [("closed", 5)]


async def test_client_message_on_resolved_ticket_reopens_it(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "It broke again"))

    assert rows(database_url, "select id, status from tickets") == [(1, "open")]
    assert any("open again" in text for text in texts_to(bot, CLIENT))


async def test_a_reply_that_cannot_be_delivered_is_recorded_and_shown_to_engineers(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await open_ticket(dispatcher, bot, updates)
    bot.session.fail("copyMessage", 403, "Forbidden: bot was blocked by the user")
    await dispatcher.feed_update(bot, updates.group("Any news?", thread_id=TOPIC))

    assert rows(database_url, "select delivery from messages where direction='to_client'") == [
        ("failed",)
    ]
    assert any("Not delivered" in text for text in texts_to(bot, SUPPORT_CHAT_ID))
    assert rows(database_url, "select first_response_at from tickets") == [(None,)]


def replying_to_the_bot(update: Update, bot: MockedBot) -> Update:
    """The same group message, replying to one of the bot's own posts (as Telegram says)."""
    assert update.message is not None
    message = update.message.model_dump(mode="json", exclude_none=True, by_alias=True)
    message["reply_to_message"]["from"] = {"id": bot.id, "is_bot": True, "first_name": "Desk"}
    return Update.model_validate({"update_id": update.update_id, "message": message})


async def test_an_answer_to_a_post_not_yet_recorded_is_answered_not_dropped(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    # The client's first message is recorded; its header and copy are still on their way
    # (the worker has not run), so Telegram may show them before the desk knows their ids.
    await dispatcher.dispatcher.feed_update(bot, updates.private(CLIENT, "Server is down"))
    quick = replying_to_the_bot(updates.group("On it", reply_to=9001), bot)
    await dispatcher.feed_update(bot, quick)

    warning = [t for t in texts_to(bot, SUPPORT_CHAT_ID) if "cannot tell which ticket" in t]
    assert len(warning) == 1
    assert [m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT] == []

    # Once every send is recorded, a reply to a post no ticket owns (an alert) is the
    # engineers' own talk again.
    later = replying_to_the_bot(updates.group("Seen", reply_to=9002), bot)
    await dispatcher.feed_update(bot, later)
    assert len([t for t in texts_to(bot, SUPPORT_CHAT_ID) if "cannot tell" in t]) == 1
