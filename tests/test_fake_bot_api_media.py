"""The fake Bot API's albums, captions and edits behave like Telegram's (bare aiogram Bot)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest

from tests.fake_bot_api import FakeBotAPI

SUPPORT_CHAT = -1001000000001
CLIENT = 5550001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        server.add_member(SUPPORT_CHAT, server.bot_id, "administrator")
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    instance = Bot(api.token, session=session)
    yield instance
    await instance.session.close()


def album(api: FakeBotAPI, *captions: str | None) -> list[int]:
    ids = []
    for caption in captions:
        content = {**api.photo(), "media_group_id": "album1"}
        update = api.private_message(CLIENT, caption, content=content)
        ids.append(update["message"]["message_id"])
    return ids


async def test_copy_messages_copies_an_album_in_order_as_a_new_album(
    api: FakeBotAPI, bot: Bot
) -> None:
    ids = album(api, "first", None, None)
    copies = await bot.copy_messages(SUPPORT_CHAT, CLIENT, ids)
    assert [c.message_id for c in copies] == sorted(c.message_id for c in copies)
    sent = [api.message(SUPPORT_CHAT, c.message_id) for c in copies]
    assert all(m is not None and "photo" in m for m in sent)
    groups = {m["media_group_id"] for m in sent if m}
    assert len(groups) == 1 and groups != {"album1"}
    assert sent[0] is not None and sent[0]["caption"] == "first"


async def test_copy_messages_needs_increasing_ids_and_takes_no_reply(
    api: FakeBotAPI, bot: Bot
) -> None:
    ids = album(api, None, None)
    with pytest.raises(TelegramBadRequest, match="increasing"):
        await bot.copy_messages(SUPPORT_CHAT, CLIENT, list(reversed(ids)))


async def test_a_caption_over_1024_characters_cannot_be_copied_as_it_is(
    api: FakeBotAPI, bot: Bot
) -> None:
    long = "x" * 1025
    single = api.private_message(CLIENT, long, content=api.photo())["message"]["message_id"]
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.copy_message(SUPPORT_CHAT, CLIENT, single)
    copy = await bot.copy_message(SUPPORT_CHAT, CLIENT, single, caption="shortened")
    copied = api.message(SUPPORT_CHAT, copy.message_id)
    assert copied is not None and copied["caption"] == "shortened"
    [copy] = await bot.copy_messages(SUPPORT_CHAT, CLIENT, [single], remove_caption=True)
    copied = api.message(SUPPORT_CHAT, copy.message_id)
    assert copied is not None and "photo" in copied and "caption" not in copied

    ids = album(api, long, None)
    # Telegram skips what it cannot copy: the long-captioned photo is lost…
    assert len(await bot.copy_messages(SUPPORT_CHAT, CLIENT, ids)) == 1
    # …unless the captions are removed.
    assert len(await bot.copy_messages(SUPPORT_CHAT, CLIENT, ids, remove_caption=True)) == 2


async def test_edit_message_caption_edits_a_bot_media_message_within_the_limit(
    api: FakeBotAPI, bot: Bot
) -> None:
    source = api.private_message(CLIENT, "old", content=api.photo())["message"]["message_id"]
    copy = await bot.copy_message(SUPPORT_CHAT, CLIENT, source)
    await bot.edit_message_caption(chat_id=SUPPORT_CHAT, message_id=copy.message_id, caption="new")
    edited = api.message(SUPPORT_CHAT, copy.message_id)
    assert edited is not None and edited["caption"] == "new" and "edit_date" in edited
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.edit_message_caption(
            chat_id=SUPPORT_CHAT, message_id=copy.message_id, caption="y" * 1025
        )
    with pytest.raises(TelegramBadRequest, match="can't be edited"):
        await bot.edit_message_caption(chat_id=CLIENT, message_id=source, caption="not mine")


async def test_edited_message_updates_carry_the_new_text_and_the_edit_time(
    api: FakeBotAPI,
) -> None:
    original = api.private_message(CLIENT, "before")["message"]
    update = api.edited_message(CLIENT, original["message_id"], "after", edit_date=1_800_000_000)
    assert update["edited_message"]["text"] == "after"
    assert update["edited_message"]["edit_date"] == 1_800_000_000
    assert update["edited_message"]["date"] == original["date"]
