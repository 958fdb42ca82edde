"""The outbox's lean request path (bot/telegram.py DeskSession) against the fake Bot API.

What a user would notice if it were wrong: a message that does not arrive as written (text,
keyboard, topic, reply), a copy recorded under the wrong id, a 429 not waited out for as
long as Telegram says, an error classified differently (a permanent failure retried, a
retry given up). Each send here is compared with what aiogram's own session sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import CopyMessage, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot.outbox import classify, receipt_of
from bot.telegram import OutboxSendMessage, make_bot
from crm.delivery import Outcome
from tests.fake_bot_api import FakeBotAPI

SUPPORT_CHAT = -1001000000001
CLIENT = 5550001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        server.add_chat(SUPPORT_CHAT, title="Support", is_forum=True)
        yield server


@pytest.fixture
async def sender(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """The outbox's bot: the desk's session, no retries of its own (the worker retries)."""
    bot = make_bot(api.token, api.base_url, attempts=1)
    yield bot
    await bot.session.close()


@pytest.fixture
async def plain(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """aiogram's own session, to compare what reaches Telegram."""
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    yield bot
    await bot.session.close()


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Network", callback_data="cat:1")],
            [InlineKeyboardButton(text="Docs", url="https://example.org/help")],
        ]
    )


def last_call(api: FakeBotAPI, method: str) -> dict[str, Any]:
    return api.calls(method)[-1]


async def test_texts_and_copies_reach_telegram_as_aiogram_sends_them(
    api: FakeBotAPI, sender: Bot, plain: Bot
) -> None:
    topic = await plain.create_forum_topic(SUPPORT_CHAT, "#1 Client")
    incoming = api.push_update(api.private_message(CLIENT, "My VM is down"))
    source = incoming["message"]["message_id"]
    text = "Ticket #1 opened: 123 «ü» & a=b?c"
    entities = [MessageEntity(type="bold", offset=0, length=6)]
    sends: list[dict[str, Any]] = [
        {"chat_id": CLIENT, "text": text, "reply_markup": keyboard(), "entities": entities},
        {"chat_id": SUPPORT_CHAT, "text": "123", "message_thread_id": topic.message_thread_id,
         "disable_notification": True},
    ]  # fmt: skip
    for fields in sends:
        await plain(SendMessage(**fields))
        expected = last_call(api, "sendMessage")
        sent = await sender(OutboxSendMessage(**fields))
        assert last_call(api, "sendMessage") == expected
        delivered = api.sent_to(fields["chat_id"])[-1]
        # The receipt names the message that arrived, and its topic.
        receipt = receipt_of(sent)
        assert receipt.message_id == delivered.message_id
        assert receipt.thread_id == delivered.message_thread_id
        if fields is sends[1]:  # then a reply to it, as in a group without topics
            card = delivered.message_id
            sends.append({"chat_id": SUPPORT_CHAT, "text": "in reply", "reply_to_message_id": card})
    in_topic = api.sent_to(SUPPORT_CHAT, thread_id=topic.message_thread_id)
    assert [m.text for m in in_topic] == ["123", "123"]
    assert api.sent_to(CLIENT)[-1].button_data() == ["cat:1"]

    copy = {"chat_id": SUPPORT_CHAT, "from_chat_id": CLIENT, "message_id": source}
    copy["message_thread_id"] = topic.message_thread_id
    copy["protect_content"] = True
    await plain(CopyMessage(**copy))
    expected = last_call(api, "copyMessage")
    copied = await sender.copy_message(**copy)
    assert last_call(api, "copyMessage") == expected
    [_, delivered] = api.sent_to(SUPPORT_CHAT, thread_id=topic.message_thread_id)[-2:]
    assert delivered.text == "My VM is down"
    assert receipt_of(copied).message_id == delivered.message_id


async def test_telegram_refusals_are_classified_as_before(api: FakeBotAPI, sender: Bot) -> None:
    api.fail("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as too_many:
        await sender(OutboxSendMessage(chat_id=CLIENT, text="hello"))
    failure = classify(too_many.value, 0, 0.5, 60)
    assert failure.kind is Outcome.RETRY_AFTER
    assert failure.retry_in.total_seconds() == 7

    api.fail("copyMessage", error_code=400, description="Bad Request: message to copy not found")
    with pytest.raises(TelegramBadRequest) as refused:
        await sender.copy_message(SUPPORT_CHAT, CLIENT, 999)
    failure = classify(refused.value, 0, 0.5, 60)
    assert failure.kind is Outcome.PERMANENT
    assert failure.description == "Bad Request: message to copy not found"

    api.fail("sendMessage", error_code=502)
    with pytest.raises(TelegramServerError) as down:
        await sender(OutboxSendMessage(chat_id=CLIENT, text="hello"))
    assert classify(down.value, 2, 0.5, 60).kind is Outcome.TRANSIENT

    api.disconnect("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await sender(OutboxSendMessage(chat_id=CLIENT, text="hello"))

    api.block(CLIENT)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await sender(OutboxSendMessage(chat_id=CLIENT, text="still there?"))
    # Nothing was delivered by any of the refused requests.
    assert api.sent_to(CLIENT) == []
