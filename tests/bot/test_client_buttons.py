"""A button acts once, on the state it was shown for; a late or second press is refused
with an alert saying why, and changes nothing."""

from __future__ import annotations

from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100


def alerts(bot: MockedBot) -> list[tuple[str | None, bool | None]]:
    return [(a.text, a.show_alert) for a in bot.session.sent("answerCallbackQuery")]


def topic_posts(bot: MockedBot) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == SUPPORT_CHAT_ID]


async def test_a_category_button_of_a_closed_ticket_is_refused_and_changes_nothing(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/close"))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "cat:1:billing"))

    assert alerts(bot) == [("Ticket #1 is closed: this button changes nothing any more.", True)]
    assert rows(database_url, "select category, status from tickets") == [(None, "closed")]
    assert bot.session.sent("editMessageText") == []


async def test_a_category_button_of_a_resolved_ticket_is_refused(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "cat:1:billing"))

    assert alerts(bot) == [("Ticket #1 is resolved: this button changes nothing any more.", True)]
    assert rows(database_url, "select category from tickets") == [(None,)]


async def test_a_category_button_of_an_open_ticket_still_classifies_it(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "cat:1:billing"))

    assert alerts(bot) == [(None, None)]
    assert rows(database_url, "select category from tickets") == [("billing",)]


async def test_a_double_tap_on_the_rating_posts_one_rating(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.group("/resolve", thread_id=TOPIC))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "rate:1:4", message_id=77))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "rate:1:5", message_id=77))

    assert [t for t in topic_posts(bot) if "rated" in t] == ["The client rated the ticket: 4/5"]
    assert alerts(bot) == [(None, None), ("You already rated #1: 4/5.", True)]
    assert rows(database_url, "select rating from tickets") == [(4,)]
