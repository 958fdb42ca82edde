"""Edits, albums, hand-off to other departments and duty mentions, through the bot."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramConflictError
from aiogram.methods import (
    CopyMessages,
    CreateForumTopic,
    EditMessageCaption,
    EditMessageText,
    GetUpdates,
    SendMessage,
)
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from bot.polling import poll_failed
from bot.settings import BotSettings
from bot.timers import queue_alerts
from crm.models import Handoff, OutboxMessage
from crm.reporting import load_month
from tests.conftest import ENGINEER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100  # the first thread id the mocked session hands out
BILLING_CHAT = -1002000000001
ACCOUNTANT = 600001
_files = itertools.count(1)


def texts_to(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


def photo(caption: str | None = None, group: str | None = None) -> dict[str, Any]:
    number = next(_files)
    content: dict[str, Any] = {
        "photo": [{"file_id": f"photo{number}", "file_unique_id": f"u{number}", "width": 90,
                   "height": 90}]
    }  # fmt: skip
    if caption is not None:
        content["caption"] = caption
    if group is not None:
        content["media_group_id"] = group
    return content


def edited(update: Update, text: str, *, seconds_later: int = 60) -> Update:
    """The same message, edited: Telegram sends it again as `edited_message`."""
    assert update.message is not None
    message = update.message.model_dump(mode="json", exclude_none=True, by_alias=True)
    key = "text" if "text" in message else "caption"
    message[key] = text
    message["edit_date"] = message["date"] + seconds_later
    return Update.model_validate(
        {"update_id": update.update_id + 10_000, "edited_message": message}
    )


def billing(
    updates: Updates,
    text: str,
    *,
    thread_id: int | None = None,
    reply_to: int | None = None,
    replied_to: dict[str, Any] | None = None,
) -> Update:
    message: dict[str, Any] = {
        "message_id": updates._next_message_id(BILLING_CHAT),
        "date": int(updates.now.timestamp()) + 600,
        "chat": {"id": BILLING_CHAT, "type": "supergroup", "title": "Billing", "is_forum": True},
        "from": {"id": ACCOUNTANT, "is_bot": False, "first_name": "Saule"},
        "text": text,
    }
    if thread_id is not None:
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
    if reply_to is not None:
        message["reply_to_message"] = {
            "message_id": reply_to, "date": message["date"], "chat": message["chat"], "text": "…",
        }  # fmt: skip
        if replied_to is not None:
            message["reply_to_message"]["from"] = replied_to
    return Update.model_validate({"update_id": next(updates._update_ids), "message": message})


# -- edits ------------------------------------------------------------------------------------


async def test_a_client_edit_is_an_event_and_is_shown_replying_to_the_copy(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    first = updates.private(CLIENT, "VM 12 is down")
    await dispatcher.feed_update(bot, first)
    copy_id = rows(
        database_url, "select copy_message_id from messages where direction='from_client'"
    )
    await dispatcher.feed_update(bot, edited(first, "VM 12 and VM 13 are down"))

    notice = bot.session.sent("sendMessage")[-1]
    assert notice.chat_id == SUPPORT_CHAT_ID and notice.message_thread_id == TOPIC
    assert notice.text == "✏️ The client edited their message: VM 12 and VM 13 are down"
    assert notice.reply_to_message_id == copy_id[0][0]
    events = rows(
        database_url,
        "select kind, actor_role, evidence_at, details from ticket_events "
        "where kind = 'client_edited'",
    )
    assert len(events) == 1
    kind, role, evidence_at, details = events[0]
    assert (kind, role, evidence_at) == ("client_edited", "client", "2026-11-02 09:01:00.000000")
    assert '"old": "VM 12 is down"' in details and '"new": "VM 12 and VM 13 are down"' in details
    # The evidence row itself is never rewritten.
    assert rows(database_url, "select text from messages where direction='from_client'") == [
        ("VM 12 is down",)
    ]


async def test_an_engineer_edit_edits_the_clients_copy(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM 12 is down"))
    answer = updates.group("Rebooting it now", thread_id=TOPIC)
    await dispatcher.feed_update(bot, answer)
    copy = [m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT]
    assert len(copy) == 1

    await dispatcher.feed_update(bot, edited(answer, "Rebooting VM 12 now, 5 minutes"))
    edits = [m for m in bot.session.sent("editMessageText") if isinstance(m, EditMessageText)]
    assert [(m.chat_id, m.text) for m in edits] == [(CLIENT, "Rebooting VM 12 now, 5 minutes")]
    assert (
        edits[0].message_id
        == rows(database_url, "select copy_message_id from messages where direction='to_client'")[
            0
        ][0]
    )
    assert ("engineer_edited",) in rows(database_url, "select kind from ticket_events")


async def test_an_engineer_edit_made_while_the_copy_is_on_its_way_still_reaches_the_client(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM 12 is down"))
    answer = updates.group("Rebooting it now", thread_id=TOPIC)
    # The edit arrives before the copy's id is recorded (not drained in between).
    await dispatcher.dispatcher.feed_update(bot, answer)
    await dispatcher.dispatcher.feed_update(bot, edited(answer, "Rebooting VM 12 now"))
    await dispatcher.worker.drain(timeout=10)

    ((copy_id,),) = rows(
        database_url, "select copy_message_id from messages where direction='to_client'"
    )
    edits = [m for m in bot.session.sent("editMessageText") if isinstance(m, EditMessageText)]
    assert [(m.chat_id, m.message_id, m.text) for m in edits] == [
        (CLIENT, copy_id, "Rebooting VM 12 now")
    ]


async def test_an_engineer_edit_of_a_photo_caption_edits_the_copys_caption(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM 12 is down"))
    answer = updates.group(None, thread_id=TOPIC, **photo("the console"))
    await dispatcher.feed_update(bot, answer)
    await dispatcher.feed_update(bot, edited(answer, "the console after the reboot"))
    edits = [m for m in bot.session.sent("editMessageCaption") if isinstance(m, EditMessageCaption)]
    assert [(m.chat_id, m.caption) for m in edits] == [(CLIENT, "the console after the reboot")]


# -- albums -----------------------------------------------------------------------------------


async def settle_and_deliver(dispatcher: Desk, database_url: str) -> None:
    """The album's settle time passes (moved, not slept), then the outbox delivers."""
    async with dispatcher.worker.sessionmaker() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.method == "copyMessages")
            .values(not_before=datetime(2000, 1, 1, tzinfo=UTC))
        )
        await session.commit()
    await dispatcher.worker.drain(timeout=10)


async def test_an_album_is_copied_as_one_album_in_order(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    parts = [updates.private(CLIENT, None, **photo(group="g1")) for _ in range(3)]
    # Telegram may deliver them out of order across batches: the copy keeps their order.
    for part in (parts[0], parts[2], parts[1]):
        await dispatcher.dispatcher.feed_update(bot, part)
    assert bot.session.sent("copyMessages") == []
    await settle_and_deliver(dispatcher, database_url)

    albums = [m for m in bot.session.sent("copyMessages") if isinstance(m, CopyMessages)]
    assert len(albums) == 1
    assert albums[0].message_ids == [p.message.message_id for p in parts if p.message]
    assert albums[0].chat_id == SUPPORT_CHAT_ID and albums[0].message_thread_id == TOPIC
    assert bot.session.sent("copyMessage") == []
    delivered = rows(
        database_url, "select delivery, copy_message_id from messages where direction='from_client'"
    )
    assert [d for d, _ in delivered] == ["delivered"] * 3
    assert len({c for _, c in delivered}) == 3


async def test_a_caption_too_long_to_copy_follows_the_media_as_text(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    caption = "Console output: " + "x" * 1500
    await dispatcher.feed_update(bot, updates.private(CLIENT, None, **photo(caption)))

    assert bot.session.sent("copyMessage") == []
    copies = [m for m in bot.session.sent("copyMessages") if isinstance(m, CopyMessages)]
    assert [(m.chat_id, m.remove_caption) for m in copies] == [(SUPPORT_CHAT_ID, True)]
    texts = texts_to(bot, SUPPORT_CHAT_ID)
    assert texts[-1].startswith("📝 The caption of the client's message above:")
    assert caption in texts[-1]


async def test_an_engineers_long_caption_reaches_the_client_after_the_media(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "Show me the graph"))
    caption = "Here is the graph. " + "z" * 1200
    await dispatcher.feed_update(bot, updates.group(None, thread_id=TOPIC, **photo(caption)))
    [media] = [m for m in bot.session.sent("copyMessages") if m.chat_id == CLIENT]
    assert media.remove_caption is True and media.from_chat_id == SUPPORT_CHAT_ID
    assert texts_to(bot, CLIENT)[-1] == caption
    assert rows(database_url, "select first_response_at from tickets") == [
        ("2026-11-02 09:00:00.000000",)
    ]


async def test_an_album_with_a_long_caption_goes_without_it_then_the_text(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    caption = "y" * 2000
    for content in (photo(caption, group="g2"), photo(group="g2")):
        await dispatcher.dispatcher.feed_update(bot, updates.private(CLIENT, None, **content))
    await settle_and_deliver(dispatcher, database_url)
    albums = bot.session.sent("copyMessages")
    assert len(albums) == 1 and albums[0].remove_caption is True
    # Sent after the album, in the same topic.
    requests = [r.__api_method__ for r in bot.session.requests]
    assert requests.index("copyMessages") < len(requests) - 1
    assert caption in texts_to(bot, SUPPORT_CHAT_ID)[-1]


async def test_an_engineers_album_reaches_the_client_as_one_and_is_the_response(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "What do you see?"))
    for _ in range(2):
        later = updates.now + timedelta(minutes=3)
        await dispatcher.dispatcher.feed_update(
            bot, updates.group(None, thread_id=TOPIC, date=later, **photo(group="e1"))
        )
    await settle_and_deliver(dispatcher, database_url)
    albums = [m for m in bot.session.sent("copyMessages") if m.chat_id == CLIENT]
    assert len(albums) == 1 and albums[0].from_chat_id == SUPPORT_CHAT_ID
    assert rows(database_url, "select first_response_at from tickets") == [
        ("2026-11-02 09:03:00.000000",)
    ]


# -- hand-off ---------------------------------------------------------------------------------


def with_departments(settings: BotSettings, **departments: int) -> BotSettings:
    return settings.model_copy(update={"departments": departments})


async def test_handoff_posts_the_ticket_to_the_department_and_its_answers_reach_the_client(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
) -> None:
    desk = Desk(with_departments(settings, billing=BILLING_CHAT), sessionmaker, i18n, bot)
    await desk.feed_update(bot, updates.private(CLIENT, "Why was I charged twice?"))
    await desk.feed_update(
        bot, updates.group("/handoff billing double charge in November", thread_id=TOPIC)
    )

    topics = [m for m in bot.session.sent("createForumTopic") if isinstance(m, CreateForumTopic)]
    assert [t.chat_id for t in topics] == [SUPPORT_CHAT_ID, BILLING_CHAT]
    card = [m for m in bot.session.sent("sendMessage") if isinstance(m, SendMessage)
            and m.chat_id == BILLING_CHAT]  # fmt: skip
    assert len(card) == 1 and card[0].message_thread_id == TOPIC + 1
    assert "Handed over by Dana" in card[0].text
    assert "Note: double charge in November" in card[0].text
    assert "client: Why was I charged twice?" in card[0].text
    assert texts_to(bot, SUPPORT_CHAT_ID)[-1] == "📨 #1 handed over to billing."
    kind, actor, details = rows(
        database_url,
        "select kind, actor_telegram_id, details from ticket_events where kind='handed_off'",
    )[0]
    assert (kind, actor) == ("handed_off", ENGINEER_ID) and '"billing"' in details

    await desk.feed_update(bot, billing(updates, "Refunded, sorry!", thread_id=TOPIC + 1))
    to_client = [m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT]
    assert [(m.from_chat_id, m.chat_id) for m in to_client] == [(BILLING_CHAT, CLIENT)]
    assert texts_to(bot, SUPPORT_CHAT_ID)[-1] == "💬 billing answered the client: Refunded, sorry!"
    # The department's answer is a response like any other, at its own Telegram time.
    assert rows(database_url, "select first_response_at from tickets") == [
        ("2026-11-02 09:10:00.000000",)
    ]
    # The month's report counts it apart, on support's own target.
    async with sessionmaker() as session:
        evidence = await load_month(session, "2026-11", settings.sla_config())
    assert [t.handed_off for t in evidence.tickets] == [True]
    # Talk outside any handed-off ticket stays the department's own.
    await desk.feed_update(bot, billing(updates, "lunch?"))
    assert len([m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT]) == 1


async def test_handoff_to_a_chat_without_topics_threads_replies_off_the_card(
    billing_desk: Desk, bot: MockedBot, updates: Updates
) -> None:
    desk = billing_desk
    posted = await hand_off_to_a_chat_without_topics(desk, bot, updates)
    card = [m for m in bot.session.sent("sendMessage") if m.chat_id == BILLING_CHAT]
    assert len(card) == 1 and card[0].message_thread_id is None
    await desk.feed_update(bot, billing(updates, "Fixed the invoice", reply_to=posted))
    assert [m.from_chat_id for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT] == [
        BILLING_CHAT
    ]


async def test_a_reply_to_a_card_the_desk_cannot_place_is_answered_not_dropped(
    billing_desk: Desk, bot: MockedBot, updates: Updates
) -> None:
    desk = billing_desk
    posted = await hand_off_to_a_chat_without_topics(desk, bot, updates)
    the_bot = {"id": bot.id, "is_bot": True, "first_name": "Desk"}
    # A post of the bot's that no hand-off is recorded with (a card whose sending the desk has
    # not recorded yet looks the same).
    await desk.feed_update(
        bot, billing(updates, "Fixed the invoice", reply_to=posted + 100, replied_to=the_bot)
    )
    [warning] = [m for m in bot.session.sent("sendMessage")
                 if m.chat_id == BILLING_CHAT and "cannot tell which ticket" in m.text]  # fmt: skip
    assert warning.reply_to_message_id is not None
    assert [m for m in bot.session.sent("copyMessage") if m.chat_id == CLIENT] == []
    # A reply to a colleague stays the department's own talk: no answer to it.
    colleague = {"id": ACCOUNTANT + 1, "is_bot": False, "first_name": "Aru"}
    await desk.feed_update(bot, billing(updates, "ok", reply_to=posted + 101, replied_to=colleague))
    assert texts_to(bot, BILLING_CHAT).count(warning.text) == 1


@pytest.fixture
def billing_desk(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
) -> Desk:
    """A desk whose one department is billing."""
    return Desk(with_departments(settings, billing=BILLING_CHAT), sessionmaker, i18n, bot)


async def hand_off_to_a_chat_without_topics(desk: Desk, bot: MockedBot, updates: Updates) -> int:
    """A client's ticket handed to billing, whose chat has no topics; the card's id."""
    await desk.feed_update(bot, updates.private(CLIENT, "Invoice is wrong"))
    bot.session.fail("createForumTopic", 400, "Bad Request: the chat is not a forum")
    await desk.feed_update(bot, updates.group("/handoff billing", thread_id=TOPIC))
    return await post_id(desk)


async def post_id(desk: Desk) -> int:
    """The card's message id in the department's chat, as the desk recorded it."""
    async with desk.worker.sessionmaker() as session:
        post = await session.scalar(select(Handoff.post_message_id))
    assert post is not None
    return int(post)


async def test_an_unknown_department_is_answered_with_the_known_ones(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
) -> None:
    settings = with_departments(settings, billing=BILLING_CHAT, sales=-1002000000002)
    desk = Desk(settings, sessionmaker, i18n, bot)
    await desk.feed_update(bot, updates.private(CLIENT, "Question"))
    await desk.feed_update(bot, updates.group("/handoff legal", thread_id=TOPIC))
    assert texts_to(bot, SUPPORT_CHAT_ID)[-1] == (
        "Unknown department «legal». Known: billing, sales. Usage: /handoff DEPARTMENT [NOTE]"
    )
    assert rows(database_url, "select count(*) from handoffs") == [(0,)]


# -- mentions ---------------------------------------------------------------------------------


async def test_breach_alerts_mention_the_duty_engineers_for_real(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    settings = settings.model_copy(update={"duty_engineers": ("500001:Dana", "@arman_ops", "7")})
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    async with sessionmaker() as session:
        await queue_alerts(session, settings, i18n, updates.now + timedelta(minutes=11))
        await session.commit()
    await dispatcher.worker.drain(timeout=10)

    general = [m for m in bot.session.sent("sendMessage")
               if m.chat_id == SUPPORT_CHAT_ID and m.message_thread_id is None]  # fmt: skip
    alert = general[-1]
    assert alert.text.endswith("Dana @arman_ops engineer on duty")
    entities = {(e.type, e.user.id if e.user else None) for e in alert.entities or []}
    assert entities == {("text_mention", 500001), ("mention", None), ("text_mention", 7)}
    for entity in alert.entities or []:
        shown = alert.text.encode("utf-16-le")[
            2 * entity.offset : 2 * (entity.offset + entity.length)
        ]
        assert shown.decode("utf-16-le") in ("Dana", "@arman_ops", "engineer on duty")


# -- 409 Conflict -----------------------------------------------------------------------------


def test_a_conflict_is_told_once_per_streak_and_backs_off() -> None:
    conflict = TelegramConflictError(
        method=GetUpdates(), message="Conflict: terminated by other getUpdates request"
    )
    with capture_logs() as logs:
        delays = [poll_failed(conflict, failures) for failures in range(1, 7)]
    assert delays == sorted(delays) and delays[0] > 0 and delays[-1] == 30.0
    told = [entry for entry in logs if entry["event"] == "get_updates_conflict"]
    assert len(told) == 1 and "another process is polling" in told[0]["hint"]


# -- settings ---------------------------------------------------------------------------------


def test_departments_and_duty_engineers_are_read_and_checked(settings: BotSettings) -> None:
    base = settings.model_dump()
    parsed = BotSettings(
        **{**base, "departments": "billing:-1001, sales : -1002", "duty_engineers": "7:Dana,@arman"}
    )
    assert parsed.departments == {"billing": -1001, "sales": -1002}
    assert parsed.duty_engineers == ("7:Dana", "@arman")
    for wrong in ("billing=-1001", "billing:1001", f"billing:{SUPPORT_CHAT_ID}"):
        with pytest.raises(ValidationError, match="billing"):
            BotSettings(**{**base, "departments": wrong})
    with pytest.raises(ValidationError, match="dana"):
        BotSettings(**{**base, "duty_engineers": "dana"})
