"""The strict MockedBot refuses what Telegram would refuse and what the desk never calls."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tests.mocked_bot import MockedBot

GROUP = -1001000000001
CLIENT = 700001


@pytest.fixture
def bot() -> MockedBot:
    return MockedBot()  # not the conftest fixture: these tests provoke violations on purpose


async def refused(bot: MockedBot, call: Any, needle: str) -> None:
    with pytest.raises(AssertionError, match=needle):
        await call
    assert bot.session.violations and needle in bot.session.violations[-1]
    assert bot.session.requests == []


async def test_plain_desk_calls_pass(bot: MockedBot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="1", callback_data="rate:1:1")]]
    )
    await bot.send_message(CLIENT, "x" * 4096, reply_markup=keyboard)
    await bot.copy_message(GROUP, CLIENT, 5, message_thread_id=100, caption="c" * 1024)
    await bot.create_forum_topic(GROUP, "#1 · Aigerim")
    assert bot.session.violations == []
    assert len(bot.session.sent("sendMessage")) == 1


async def test_a_method_the_desk_never_calls_fails(bot: MockedBot) -> None:
    await refused(bot, bot.get_chat(CLIENT), "unexpected Bot API call getChat")


async def test_a_typo_in_sent_fails(bot: MockedBot) -> None:
    with pytest.raises(AssertionError, match="edit_forum_topic"):
        bot.session.sent("edit_forum_topic")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"text": "x" * 4097}, "more than 4096"),
        ({"text": " "}, "text is empty"),
        ({"text": "<b>hi</b>", "parse_mode": "HTML"}, "parse_mode='HTML'"),
        ({"text": "hi", "message_thread_id": 7}, "not a group"),
        (
            {
                "text": "hi",
                "reply_markup": InlineKeyboardMarkup(
                    inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="d" * 65)]]
                ),
            },
            "65 bytes",
        ),
    ],
)
async def test_send_message_checks(bot: MockedBot, kwargs: dict[str, Any], needle: str) -> None:
    await refused(bot, bot.send_message(CLIENT, **kwargs), needle)


async def test_a_long_caption_fails(bot: MockedBot) -> None:
    await refused(bot, bot.copy_message(GROUP, CLIENT, 5, caption="c" * 1025), "more than 1024")


async def test_a_topic_outside_a_group_fails(bot: MockedBot) -> None:
    await refused(bot, bot.create_forum_topic(CLIENT, "#1"), "only in groups")
