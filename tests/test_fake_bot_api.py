"""The fake Bot API must be good enough for aiogram itself, or every e2e test built on it lies.

These tests drive it with a bare aiogram Bot/Dispatcher (no bot package involved).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from tests.e2e.harness import BotProcess
from tests.fake_bot_api import FakeBotAPI, RateLimits

SUPPORT_CHAT = -1001000000001
CLIENT = 5550001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    instance = Bot(api.token, session=session)
    yield instance
    await instance.session.close()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [[InlineKeyboardButton(text=d, callback_data=d)] for d in data]
    return InlineKeyboardMarkup(inline_keyboard=buttons)


async def test_basic_methods_parse_into_aiogram_types(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == bot.id == api.bot_id
    assert me.username == "test_support_bot"
    assert me.is_bot

    sent = await bot.send_message(CLIENT, "Pick one", reply_markup=keyboard("a:1", "b:2"))
    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert sent.chat.type == "private"
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)

    [params] = api.calls("sendMessage")
    assert params["chat_id"] == CLIENT  # decoded to int
    assert params["text"] == "Pick one"
    assert params["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "b:2"
    [delivered] = api.sent_to(CLIENT)
    assert delivered.message_id == sent.message_id
    assert delivered.button_data() == ["a:1", "b:2"]

    # A numeric text must stay a string (aiogram's method models say which fields are strings).
    await bot.send_message(CLIENT, "123")
    assert api.calls("SENDMESSAGE")[-1]["text"] == "123"

    incoming = api.push_update(api.private_message(CLIENT, "My VM is down"))
    topic = await bot.create_forum_topic(SUPPORT_CHAT, "#1 Client")
    assert topic.name == "#1 Client"
    copied = await bot.copy_message(
        SUPPORT_CHAT,
        CLIENT,
        incoming["message"]["message_id"],
        message_thread_id=topic.message_thread_id,
    )
    [copy] = api.sent_to(SUPPORT_CHAT)
    assert copy.message_id == copied.message_id
    assert copy.message_thread_id == topic.message_thread_id
    assert copy.text == "My VM is down"
    assert copy.method == "copyMessage"

    api.add_chat(-1002000000002, is_forum=False)
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(-1002000000002, "nope")
    [failed] = api.requests_of("createForumTopic", include_failed=True)[1:]
    assert failed.failed and failed.error_code == 400 and not failed.injected


async def test_retry_after_and_server_errors(api: FakeBotAPI, bot: Bot) -> None:
    fault = api.fail("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(CLIENT, "hi")
    assert info.value.retry_after == 3
    assert fault.fired == 1 and not fault.active
    await bot.send_message(CLIENT, "hi")  # only the first call failed
    attempts = api.requests_of("sendMessage", include_failed=True)
    assert [r.failed for r in attempts] == [True, False]
    assert attempts[0].injected and attempts[0].error_code == 429
    assert len(api.sent_to(CLIENT)) == 1

    api.fail("getMe", error_code=502)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    api.disconnect("getMe")
    with pytest.raises(TelegramNetworkError):
        await bot.get_me()
    assert (await bot.get_me()).id == bot.id

    api.fail_every(3, "sendMessage", times=None)
    outcomes = []
    for _ in range(6):
        try:
            await bot.send_message(CLIENT, "again")
            outcomes.append("ok")
        except TelegramRetryAfter:
            outcomes.append("429")
    assert outcomes == ["ok", "ok", "429", "ok", "ok", "429"]
    api.clear_faults()

    document = api.push_update(api.private_message(CLIENT, content=api.document()))
    text = api.push_update(api.private_message(CLIENT, "plain"))
    api.fail_when(
        lambda r: "document" in (r.source or {}),
        method="copyMessage",
        description="Bad Request: DOCUMENT_INVALID",
    )
    with pytest.raises(TelegramBadRequest, match="DOCUMENT_INVALID"):
        await bot.copy_message(SUPPORT_CHAT, CLIENT, document["message"]["message_id"])
    await bot.copy_message(SUPPORT_CHAT, CLIENT, text["message"]["message_id"])

    with pytest.raises(TelegramNotFound):
        await bot.session.make_request(bot, _UnknownMethod())
    assert api.unknown_methods == ["fancyNewMethod"]

    api.block(CLIENT)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(CLIENT, "still there?")


class _UnknownMethod(GetUpdates):
    """A method the fake does not know (aiogram's URL uses __api_method__)."""

    __api_method__ = "fancyNewMethod"


async def test_dispatcher_polling_duplicates_and_confirmation(api: FakeBotAPI, bot: Bot) -> None:
    seen: list[int] = []
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        seen.append(message.message_id)
        await message.answer(f"echo: {message.text}")

    @router.callback_query()
    async def on_button(query: CallbackQuery) -> None:
        await query.answer("done")
        if isinstance(query.message, Message):
            await query.message.edit_text("chosen", reply_markup=None)

    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        await api.wait_polling(timeout=5)
        update = api.push_update(api.private_message(CLIENT, "hello"))
        [reply] = await api.wait_sent(CLIENT, text_contains="echo: hello", timeout=5)
        assert reply.message["chat"]["id"] == CLIENT

        api.push_update(update)  # same update_id again: delivered again, not renumbered
        await api.wait_sent(CLIENT, count=2, timeout=5)
        assert seen == [update["message"]["message_id"]] * 2
        await api.wait_confirmed(timeout=5)
        assert api.confirmed_offset == update["update_id"] + 1

        mark = len(api.requests)
        api.push_update(
            api.callback_query(CLIENT, "pick", message_chat_id=CLIENT, message_id=reply.message_id)
        )
        await api.wait_for("editMessageText", since=mark, timeout=5)
        [answer] = await api.wait_for("answerCallbackQuery", since=mark, timeout=5)
        assert answer.params["text"] == "done"
        assert reply.text == "chosen"  # edits update the recorded message
    finally:
        await dp.stop_polling()
        await task
    # Confirmed updates are gone for good: a new poller with no offset gets nothing.
    assert await bot.get_updates(timeout=0) == []


async def test_get_updates_long_poll_offset_and_redelivery(api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0) == []

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_polling(after=api.get_updates_calls, timeout=2)
    assert api.pending_polls == 1
    first = api.push_update(api.private_message(CLIENT, "one"))
    updates = await asyncio.wait_for(poll, 2)  # woken by the push, not by the timeout
    assert [u.update_id for u in updates] == [first["update_id"]]

    # Unconfirmed updates come again (e.g. to a restarted bot), confirmed ones never.
    assert [u.update_id for u in await bot.get_updates()] == [first["update_id"]]
    second = api.push_update(api.private_message(CLIENT, "two"))
    got = await bot.get_updates(offset=first["update_id"] + 1, limit=1)
    assert [u.update_id for u in got] == [second["update_id"]]
    assert api.confirmed_offset == first["update_id"] + 1
    assert await bot.get_updates(offset=second["update_id"] + 1, timeout=0) == []

    api.push_update(first)  # Telegram redelivering an already confirmed update
    got = await bot.get_updates(offset=second["update_id"] + 1, timeout=0)
    assert [u.update_id for u in got] == [first["update_id"]]
    assert await bot.get_updates(offset=second["update_id"] + 1, timeout=0) == []

    # A second concurrent poller terminates the first one, like Telegram does.
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_polling(after=api.get_updates_calls, timeout=2)
    newer = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await older
    newer.cancel()

    # While a webhook is set, polling is refused the same way.
    assert await bot.set_webhook("https://desk.example/telegram/webhook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_raw_http_forms_and_uploads(api: FakeBotAPI, bot: Bot) -> None:
    url = f"{api.base_url}/bot{api.token}/SendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": CLIENT, "text": "json body"}) as resp:
            assert (await resp.json())["ok"]
        async with http.post(url, data={"chat_id": str(CLIENT), "text": "form"}) as resp:
            assert (await resp.json())["result"]["text"] == "form"
        async with http.get(f"{api.base_url}/bot{api.token}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == api.bot_username
        async with http.get(f"{api.base_url}/bot1:wrong/getMe") as resp:
            assert resp.status == 401
    assert [m.text for m in api.sent_to(CLIENT)] == ["json body", "form"]

    doc = await bot.send_document(CLIENT, BufferedInputFile(b"x" * 300, "logs.txt"), caption="logs")
    assert doc.document is not None and doc.document.file_name == "logs.txt"
    [params] = api.calls("sendDocument")
    assert params["document"].filename == "logs.txt" and params["document"].size == 300
    photo = await bot.send_photo(SUPPORT_CHAT, BufferedInputFile(b"p" * 50, "s.png"))
    assert photo.photo is not None and photo.photo[-1].file_size == 50


async def test_message_validation_like_telegram(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CLIENT, "x" * 4097)
    await bot.send_message(CLIENT, "🙂" * 2048)  # 4096 UTF-16 code units: just fits
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CLIENT, "x", reply_markup=keyboard("d" * 65))
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CLIENT, "   ")
    upload = BufferedInputFile(b"x" * 10, "logs.txt")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(CLIENT, upload, caption="c" * 1025)
    photo = api.push_update(api.private_message(CLIENT, "a photo", content=api.photo()))
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.copy_message(
            SUPPORT_CHAT, CLIENT, photo["message"]["message_id"], caption="c" * 1025
        )
    copied = await bot.copy_message(SUPPORT_CHAT, CLIENT, photo["message"]["message_id"])
    assert api.message(SUPPORT_CHAT, copied.message_id)["caption"] == "a photo"  # type: ignore[index]

    # The desk sends plain text: a parse_mode is refused and reported as the fake's finding.
    with pytest.raises(TelegramBadRequest, match="parse_mode"):
        await bot.send_message(CLIENT, "<b>Status</b>", parse_mode="HTML")
    assert api.fake_errors == ["sendMessage: parse_mode='HTML' (the desk sends plain text)"]
    api.fake_errors.clear()

    sent = await bot.send_message(CLIENT, "Status: open")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Status: open", chat_id=CLIENT, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CLIENT, message_id=9999)
    await bot.edit_message_text("Status: closed", chat_id=CLIENT, message_id=sent.message_id)
    assert api.sent_to(CLIENT)[-1].text == "Status: closed"

    topic = await bot.create_forum_topic(SUPPORT_CHAT, "t")
    await bot.send_message(SUPPORT_CHAT, "in the topic", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(SUPPORT_CHAT, topic.message_thread_id, name="t")
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(
            SUPPORT_CHAT, "nowhere", message_thread_id=topic.message_thread_id + 99
        )


async def test_flood_control_answers_429_with_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    api.limit_rates(RateLimits(private_per_second=1, group_per_minute=3, overall_per_second=30))
    await bot.send_message(CLIENT, "one")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(CLIENT, "two")  # the same private chat within a second
    assert info.value.retry_after == 1
    await bot.send_message(CLIENT + 1, "another chat is not held back")

    topic = await bot.create_forum_topic(SUPPORT_CHAT, "#1")  # counts: it posts into the group
    for text in ("a", "b"):
        await bot.send_message(SUPPORT_CHAT, text, message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(SUPPORT_CHAT, "c")  # the group's budget covers all its topics
    assert 55 <= info.value.retry_after <= 60
    assert [r.params["text"] for r in api.rate_limited] == ["two", "c"]
    assert all(r.error_code == 429 and not r.injected for r in api.rate_limited)

    api.limit_rates(None)
    await bot.send_message(SUPPORT_CHAT, "c")
    assert api.sent_to(SUPPORT_CHAT)[-1].text == "c"


async def test_builders_validate_as_aiogram_updates(api: FakeBotAPI, bot: Bot) -> None:
    contents = [api.photo(), api.document()]
    for content in contents:
        raw = api.private_message(CLIENT, "caption", content=content)
        message = Update.model_validate(raw, context={"bot": bot}).message
        assert message is not None and message.content_type == next(iter(content))
    topic = api.create_topic(SUPPORT_CHAT, "#7")
    raw = api.group_message(SUPPORT_CHAT, 900001, "/close", thread_id=topic.message_thread_id)
    message = Update.model_validate(raw, context={"bot": bot}).message
    assert message is not None and message.is_topic_message
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None
    assert message.entities is not None and message.entities[0].type == "bot_command"
    query = api.callback_query(CLIENT, "rate:5", message_chat_id=CLIENT, message_id=77)
    parsed = Update.model_validate(query, context={"bot": bot}).callback_query
    assert parsed is not None and parsed.data == "rate:5"

    # A method the desk does not call is not served (and shows up in unknown_methods).
    with pytest.raises(TelegramNotFound):
        await bot.get_chat(SUPPORT_CHAT)
    assert api.unknown_methods == ["getChat"]


async def test_wait_for_timeout_lists_what_arrived(api: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(CLIENT, "something else")
    with pytest.raises(AssertionError, match="something else"):
        await api.wait_for("sendPhoto", timeout=0.2)


# Stdlib only: importing aiogram costs seconds, and this only checks the harness mechanics.
STAND_IN_BOT = """
import json, os, signal, sys, urllib.parse, urllib.request

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
base = os.environ["TELEGRAM_API_URL"] + "/bot" + os.environ["BOT_TOKEN"] + "/"


def call(method, **params):
    data = urllib.parse.urlencode(params).encode()
    with urllib.request.urlopen(base + method, data, timeout=30) as response:
        return json.load(response)["result"]


print("stand-in bot up", flush=True)
offset = 0
while True:
    for update in call("getUpdates", offset=offset, timeout=5):
        offset = update["update_id"] + 1
        chat = update["message"]["chat"]["id"]
        call("sendMessage", chat_id=chat,
             text=os.environ["SUPPORT_CHAT_ID"] + " " + os.environ["DATABASE_URL"])
"""


async def test_harness_runs_a_process_against_the_fake(tmp_path: Path) -> None:
    """BotProcess mechanics with a stand-in aiogram script, independent of the bot package."""
    script = tmp_path / "stand_in_bot.py"
    script.write_text(STAND_IN_BOT)
    async with FakeBotAPI() as api:
        process = BotProcess(api, tmp_path, command=[sys.executable, str(script)])
        await process.start()
        api.push_update(api.private_message(CLIENT, "ping"))
        [reply] = await api.wait_sent(CLIENT, timeout=5)
        assert reply.text == f"{SUPPORT_CHAT} sqlite+aiosqlite:///{tmp_path}/support.db"
        assert process.database_path == tmp_path / "support.db"
        assert await process.stop() == 0
        assert "stand-in bot up" in process.output()

        crashing = BotProcess(
            api,
            tmp_path,
            name="crash",
            command=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
        )
        with pytest.raises(AssertionError, match=r"(?s)exited with code 3.*boom"):
            await crashing.start()
