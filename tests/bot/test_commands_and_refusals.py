"""Malformed commands get a precise answer and write nothing; strangers are refused."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.commands import OfflineRequest, ParseError, parse_offline_request, stated_moment
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
ALMATY = ZoneInfo("Asia/Almaty")


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (None, ParseError("missing_arguments")),
        ("abc", ParseError("customer_not_a_number", "abc")),
        ("99999 25:99 x", ParseError("bad_time", "25:99")),
        ("12 09:30", ParseError("missing_text")),
        ("12 09:30 Server is down", OfflineRequest(12, time(9, 30), "Server is down")),
        ("12 Server is down", OfflineRequest(12, None, "Server is down")),
    ],
)
def test_offline_request_arguments_are_parsed_or_explained(
    args: str | None, expected: OfflineRequest | ParseError
) -> None:
    assert parse_offline_request(args) == expected


def test_a_stated_time_later_than_now_means_yesterday() -> None:
    logged = datetime(2026, 11, 1, 19, 5, tzinfo=UTC)  # 00:05 on 2 Nov in Almaty
    assert stated_moment(time(23, 55), logged, ALMATY) == datetime(
        2026, 11, 1, 23, 55, tzinfo=ALMATY
    )
    assert stated_moment(time(0, 1), logged, ALMATY) == datetime(2026, 11, 2, 0, 1, tzinfo=ALMATY)


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("/phone abc", "must be a number"),
        ("/phone 99999 25:99 x", "25:99 is not a time"),
        ("/phone 99999 10:00 lost connectivity", "no customer with id 99999"),
        ("/email", "missing"),
    ],
)
async def test_malformed_offline_request_is_explained_and_records_nothing(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    command: str,
    complaint: str,
) -> None:
    await dispatcher.feed_update(bot, updates.group(command))

    answer = replies(bot, SUPPORT_CHAT_ID)[-1]
    assert complaint.lower() in answer.lower()
    assert "CUSTOMER_ID [HH:MM] TEXT" in answer
    assert rows(database_url, "select count(*) from tickets") == [(0,)]


async def test_unknown_command_in_private_chat_lists_the_real_ones(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/frobnicate now"))

    answer = replies(bot, CLIENT)[-1]
    assert "Unknown command /frobnicate" in answer
    assert "/tickets" in answer
    assert rows(database_url, "select count(*) from tickets") == [(0,)]


@pytest.mark.parametrize("command", ["/take", "/resolve", "/note hi", "/phone 1 x"])
async def test_engineer_commands_from_a_client_are_refused(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str, command: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, command))

    assert "for support engineers" in replies(bot, CLIENT)[-1]
    assert rows(database_url, "select count(*) from tickets") == [(0,)]


async def test_ticket_commands_outside_a_topic_say_where_to_use_them(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.group("/resolve"))

    assert "inside a ticket's topic" in replies(bot, SUPPORT_CHAT_ID)[-1]


async def test_clients_cannot_rate_or_categorise_someone_elses_ticket(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "help"))
    await dispatcher.feed_update(bot, updates.callback(700002, "cat:1:billing"))
    await dispatcher.feed_update(bot, updates.callback(700002, "rate:1:1"))

    refusals = [a for a in bot.session.sent("answerCallbackQuery") if a.show_alert]
    assert len(refusals) == 2
    assert rows(database_url, "select category, rating from tickets") == [(None, None)]


async def test_other_groups_are_ignored(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    update = updates.group("/phone 1 hello")
    assert update.message is not None
    foreign = update.model_copy(
        update={
            "message": update.message.model_copy(
                update={"chat": update.message.chat.model_copy(update={"id": -100999})}
            )
        }
    )
    await dispatcher.feed_update(bot, foreign)
    assert bot.session.requests == []
