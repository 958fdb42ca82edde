"""Outage storms (issue 10), through the bot with a strict mocked session: later reports of
a running outage live in its room, and one message there answers every reporter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import ServiceType
from tests.bot.test_channels import edited, photo, settle_and_deliver
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENTS = {700001: "Aigerim", 700002: "Bolat", 700003: "Dana", 700004: "Yerlan"}
FIRST_TOPIC, ROOM, NEXT_TOPIC = 100, 101, 102
OCT_2 = datetime(2026, 10, 2, 4, 0, tzinfo=UTC)


def texts(bot: MockedBot, chat_id: int, thread: int | None = None) -> list[str]:
    return [
        m.text
        for m in bot.session.sent("sendMessage")
        if m.chat_id == chat_id and (thread is None or m.message_thread_id == thread)
    ]


def copies_to(bot: MockedBot, chat_id: int) -> list[int]:
    """The support-group messages copied into a client's chat."""
    return [
        m.message_id
        for m in bot.session.sent("copyMessage")
        if m.chat_id == chat_id and m.from_chat_id == SUPPORT_CHAT_ID
    ]


async def storm(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
) -> None:
    """Four contacts of one customer report its one server down, a minute apart."""
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        await crm.add_service(
            customer.id,
            ServiceType.DEDICATED,
            Decimal("150000"),
            name="rack-1",
            active_from=datetime(2026, 1, 1, tzinfo=UTC),
        )
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
    for client, name in CLIENTS.items():
        start = updates.private(client, f"/start {token}", first_name=name, date=OCT_2)
        await dispatcher.feed_update(bot, start)
    for minute, (client, name) in enumerate(CLIENTS.items()):
        report = updates.private(
            client, f"/down {name} here", first_name=name, date=OCT_2 + timedelta(minutes=minute)
        )
        await dispatcher.feed_update(bot, report)


async def test_later_reports_of_a_running_outage_open_no_topic_and_show_in_its_room(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)

    topics = [t.name for t in bot.session.sent("createForumTopic")]
    assert topics == [
        "#1 · Steppe Cloud LLP · service is down",
        "Outage #1 · rack-1 · Steppe Cloud LLP",
    ]
    room = texts(bot, SUPPORT_CHAT_ID, ROOM)
    for number, name in enumerate(list(CLIENTS.values())[1:], start=2):
        assert f"#{number} · {name} · Steppe Cloud LLP: /down {name} here" in room
    # Each reporter was acknowledged in their own chat all the same.
    for client in CLIENTS:
        acknowledged = "recorded that rack-1 is down since 2026-10-02 09:0"
        assert any(acknowledged in t for t in texts(bot, client))


async def test_one_message_in_the_room_reaches_every_reporter_as_their_first_response(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)
    answered_at = OCT_2 + timedelta(minutes=6)
    answer = updates.group("Power is lost in DC1, ETA 30 min", thread_id=ROOM, date=answered_at)
    await dispatcher.feed_update(bot, answer)
    await dispatcher.feed_update(bot, answer)  # Telegram delivers it again

    answer_id = answer.message.message_id
    for client in CLIENTS:
        assert copies_to(bot, client) == [answer_id]
    assert (
        rows(database_url, "select first_response_at from tickets order by id")
        == [("2026-10-02 04:06:00.000000",)] * 4
    )
    assert texts(bot, SUPPORT_CHAT_ID, ROOM)[-1] == (
        "📨 Sent to the 4 clients who reported outage #1."
    )


async def test_a_note_in_the_room_stays_with_the_engineers(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("! checking the UPS", thread_id=ROOM))

    assert all(copies_to(bot, client) == [] for client in CLIENTS)


async def test_open_gives_one_report_its_own_topic_to_answer_that_client_alone(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/open 3", thread_id=ROOM))
    await dispatcher.feed_update(bot, updates.private(700003, "still down?", first_name="Dana"))
    reply = updates.group("Dana, your rack is on the UPS now", thread_id=NEXT_TOPIC)
    await dispatcher.feed_update(bot, reply)
    for bad in ("/open", "/open 3", "/open 99"):
        await dispatcher.feed_update(bot, updates.group(bad, thread_id=ROOM))

    assert [t.name for t in bot.session.sent("createForumTopic")][-1] == (
        "#3 · Steppe Cloud LLP · service is down"
    )
    assert any(
        c.message_thread_id == NEXT_TOPIC and c.from_chat_id == 700003
        for c in bot.session.sent("copyMessage")
    )
    assert copies_to(bot, 700003) == [reply.message.message_id]
    assert copies_to(bot, 700002) == []
    # The new topic starts with what Dana said in the room, so nobody has to look for it.
    assert any(
        t.startswith("Earlier messages of #3 are in the room of outage #1.")
        and t.endswith("\n\n2026-10-02 09:02 👤 /down Dana here")
        for t in texts(bot, SUPPORT_CHAT_ID, NEXT_TOPIC)
    )
    said = texts(bot, SUPPORT_CHAT_ID, ROOM)
    assert "#3 has its own topic now." in said
    assert "Write it as: /open TICKET, e.g. /open 1042" in said
    assert "#3 already has its own topic." in said
    assert "There is no ticket #99." in said


async def test_an_album_from_a_gathered_report_is_copied_into_the_room_naming_its_sender(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)
    for _part in range(2):
        album = updates.private(700002, None, first_name="Bolat", **photo(group="rack-photos"))
        # Fed without the drain after each update: the album waits for its parts.
        await dispatcher.dispatcher.feed_update(bot, album)
    await settle_and_deliver(dispatcher, database_url)

    [copy] = bot.session.sent("copyMessages")
    assert (copy.chat_id, copy.message_thread_id, copy.from_chat_id) == (
        SUPPORT_CHAT_ID, ROOM, 700002
    )  # fmt: skip
    assert len(copy.message_ids) == 2
    assert "📎 #2 · Bolat · Steppe Cloud LLP" in texts(bot, SUPPORT_CHAT_ID, ROOM)
    assert (
        rows(database_url, "select delivery from messages where content_type = 'photo'")
        == [("delivered",)] * 2
    )


async def test_an_engineer_editing_the_rooms_answer_edits_every_reporters_copy(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await storm(sessionmaker, dispatcher, bot, updates)
    answer = updates.group("Power is lost in DC1, ETA 30 min", thread_id=ROOM)
    await dispatcher.feed_update(bot, answer)
    fixed = edited(answer, "Power is lost in DC1, ETA 60 min")
    await dispatcher.feed_update(bot, fixed)
    await dispatcher.feed_update(bot, fixed)  # Telegram delivers it again

    copies = dict(
        rows(
            database_url,
            "select copy_chat_id, copy_message_id from messages"
            " where chat_id is null and text = 'Power is lost in DC1, ETA 30 min'",
        )
    )
    edits = {(m.chat_id, m.message_id, m.text) for m in bot.session.sent("editMessageText")}
    assert edits == {
        (client, copies[client], "Power is lost in DC1, ETA 60 min") for client in CLIENTS
    }
    assert len(bot.session.sent("editMessageText")) == len(CLIENTS)
    assert rows(
        database_url, "select count(*) from ticket_events where kind = 'engineer_edited'"
    ) == [(len(CLIENTS),)]
