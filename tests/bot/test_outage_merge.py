"""Outages beyond one service (issue 10), through the bot with a strict mocked session:
`/merge` and `/site` gather incidents into one room whose commands act on every member."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.models import Service
from tests.bot.test_incident_rooms import AIGERIM, BOLAT, OCT_2, colleagues, texts
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

# Threads in creation order: Aigerim's ticket, its room, then Bolat's room: Bolat's report
# waits in the running outage's room until he names his service, then lives in its room.
ROOM_1, ROOM_2 = 101, 102
LATER = OCT_2 + timedelta(minutes=10)


async def two_outages(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    site: str | None = None,
) -> None:
    """Aigerim reports rack-1 down, Bolat rack-2: two incidents, two rooms."""
    await colleagues(sessionmaker, dispatcher, bot, updates, services=3)
    if site is not None:
        async with sessionmaker() as session:
            await session.execute(update(Service).where(Service.id < 3).values(site=site))
            await session.commit()
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.callback(AIGERIM, "svc:1:1", message_id=9))
    if site is not None:
        await dispatcher.feed_update(bot, updates.group(f"/site {site}", thread_id=ROOM_1))
    later = OCT_2 + timedelta(minutes=2)
    await dispatcher.feed_update(
        bot, updates.private(BOLAT, "/down", first_name="Bolat", date=later)
    )
    await dispatcher.feed_update(bot, updates.callback(BOLAT, "svc:2:2", message_id=9))


async def test_merge_gathers_an_outage_into_this_room_and_commands_here_tell_every_client(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await two_outages(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/merge #2", thread_id=ROOM_1, date=LATER))
    await dispatcher.feed_update(
        bot, updates.group("/confirm hardware", thread_id=ROOM_1, date=LATER)
    )

    room = texts(bot, SUPPORT_CHAT_ID, ROOM_1)
    assert any(
        t.startswith("🔗 Outage #1 now gathers: #2 rack-2 (Steppe Cloud LLP).") for t in room
    )
    assert any("It covers 2 services" in t for t in room)
    assert texts(bot, SUPPORT_CHAT_ID, ROOM_2)[-1] == (
        "Merged into Outage #1: its room is «Outage #1 · rack-1 and others · Steppe Cloud LLP»."
    )
    # The room is renamed once for what it gathers now: "rack-1" alone would mislead.
    assert [(r.message_thread_id, r.name) for r in bot.session.sent("editForumTopic")] == [
        (ROOM_1, "Outage #1 · rack-1 and others · Steppe Cloud LLP")
    ]
    assert "✅ Outage #1 confirmed, layer hardware." in room
    assert "✅ Outage #2 confirmed, layer hardware." in room
    assert any(t.startswith("We confirm the outage of rack-1.") for t in texts(bot, AIGERIM))
    assert any(t.startswith("We confirm the outage of rack-2.") for t in texts(bot, BOLAT))
    # Each service keeps its own incident and evidence.
    assert rows(
        database_url, "select id, outage_id, status, client_notice_at from incidents order by id"
    ) == [
        (1, None, "confirmed", "2026-10-02 04:00:00.000000"),
        (2, 1, "confirmed", "2026-10-02 04:02:00.000000"),
    ]


async def test_a_command_naming_one_member_acts_on_it_alone(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await two_outages(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/merge #1 #2", date=LATER))  # general topic
    for text in ("/restored #2", "/confirm #7 os"):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=ROOM_1, date=LATER))

    assert rows(database_url, "select id, restored_at is not null from incidents order by id") == [
        (1, 0),
        (2, 1),
    ]
    assert "Outage #7 is not part of this room's outage." in texts(bot, SUPPORT_CHAT_ID, ROOM_1)
    assert any(
        "rack-2 is working again" in t or "rack-2 is restored" in t for t in texts(bot, BOLAT)
    )
    assert not any("restored" in t or "working again" in t for t in texts(bot, AIGERIM))


async def test_merge_and_site_refuse_what_makes_no_sense_and_change_nothing(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await two_outages(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/reject #2 client DNS", date=LATER))
    for text in (
        "/merge",
        "/merge two",
        "/merge #1",
        "/merge #9",
        "/merge #2",
        "/site",
        "/site DC9",
    ):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=ROOM_1, date=LATER))
    await dispatcher.feed_update(bot, updates.group("/merge #1", date=LATER))

    said = texts(bot, SUPPORT_CHAT_ID)
    usage = "Write it as: /merge #A #B ... In an outage's room they join its outage;"
    assert sum(t.startswith(usage) for t in said) == 3
    assert "Outage #1 is already this outage: nothing merged." in said
    assert "There is no outage #9: nothing merged." in said
    assert "Outage #2 was rejected: it cannot be merged; nothing merged." in said
    assert "Write it as: /site SITE in an outage's room, e.g. /site DC1" in said
    assert any(t.startswith("No service has a site yet;") for t in said)
    assert rows(database_url, "select count(*) from incidents where outage_id is not null") == [
        (0,)
    ]


async def test_a_sites_new_report_joins_its_running_outage_without_a_room_of_its_own(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await two_outages(sessionmaker, dispatcher, bot, updates, site="DC1")

    topics = [t.name for t in bot.session.sent("createForumTopic")]
    assert [name for name in topics if name.startswith("Outage")] == [
        "Outage #1 · rack-1 · Steppe Cloud LLP · DC1"
    ]
    renames = [r for r in bot.session.sent("editForumTopic") if r.name.startswith("Outage")]
    assert [(r.message_thread_id, r.name) for r in renames] == [
        (ROOM_1, "Outage #1 · rack-1 and others · Steppe Cloud LLP · DC1")
    ]
    room = texts(bot, SUPPORT_CHAT_ID, ROOM_1)
    assert any(t.startswith("Site DC1: new reports of its services join outage #1") for t in room)
    assert any("⚡ Outage #2: service 2 «rack-2»" in t for t in room)  # the card, in the room
    assert any("(ticket #2) reported it at 2026-10-02 09:02" in t for t in room)
    assert rows(database_url, "select id, service_id, outage_id from incidents order by id") == [
        (1, 1, None),
        (2, 2, 1),
    ]


async def test_one_message_in_a_merged_outages_room_reaches_the_reporters_of_every_service(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await two_outages(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group("/merge #2", thread_id=ROOM_1, date=LATER))
    answer = updates.group("Both racks share the failed switch", thread_id=ROOM_1, date=LATER)
    await dispatcher.feed_update(bot, answer)

    for client in (AIGERIM, BOLAT):
        copies = [
            m.message_id
            for m in bot.session.sent("copyMessage")
            if m.chat_id == client and m.from_chat_id == SUPPORT_CHAT_ID
        ]
        assert copies == [answer.message.message_id]
    assert texts(bot, SUPPORT_CHAT_ID, ROOM_1)[-1] == (
        "📨 Sent to the 2 clients who reported outage #1."
    )


async def test_a_report_not_yet_naming_its_service_waits_in_the_running_outages_room(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates, services=2)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.callback(AIGERIM, "svc:1:1", message_id=9))
    later = OCT_2 + timedelta(minutes=2)
    bolat_down = updates.private(BOLAT, "/down all racks dark", first_name="Bolat", date=later)
    await dispatcher.feed_update(bot, bolat_down)

    # No topic of its own: in a storm each one would spend the group's budget.
    assert len(bot.session.sent("createForumTopic")) == 2
    room = texts(bot, SUPPORT_CHAT_ID, ROOM_1)
    assert "#2 · Bolat · Steppe Cloud LLP: /down all racks dark" in room
    assert texts(bot, BOLAT)[-1].endswith("Which service is down?")

    await dispatcher.feed_update(bot, updates.callback(BOLAT, "svc:2:1", message_id=9))
    assert texts(bot, SUPPORT_CHAT_ID, ROOM_1)[-1] == (
        "#2: Service chosen by the client: 1 «rack-1»"
    )
    assert rows(
        database_url, "select incident_id, ticket_id, noticed_at from incident_notices order by id"
    ) == [(1, 1, "2026-10-02 04:00:00.000000"), (1, 2, "2026-10-02 04:02:00.000000")]
    answer = updates.group("Rack power restored in 10 min", thread_id=ROOM_1, date=LATER)
    await dispatcher.feed_update(bot, answer)
    assert texts(bot, SUPPORT_CHAT_ID, ROOM_1)[-1] == (
        "📨 Sent to the 2 clients who reported outage #1."
    )


async def test_a_plain_message_opening_a_ticket_while_the_customers_outage_runs_waits_in_its_room(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates, services=1)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    later = OCT_2 + timedelta(minutes=2)
    bolat_writes = updates.private(BOLAT, "Our site does not open", first_name="Bolat", date=later)
    await dispatcher.feed_update(bot, bolat_writes)

    # Aigerim's ticket and the outage's room: Bolat's ticket takes no topic of its own.
    assert len(bot.session.sent("createForumTopic")) == 2
    assert "#2 · Bolat · Steppe Cloud LLP: Our site does not open" in texts(
        bot, SUPPORT_CHAT_ID, ROOM_1
    )
    assert "We are already working on an outage of your services (#1)" in texts(bot, BOLAT)[-1]
    # Only a /down (or "service is down") is a notice of the outage: its evidence is unmoved.
    assert rows(database_url, "select incident_id, ticket_id from incident_notices") == [(1, 1)]

    answer = updates.group("Rack power restored in 10 min", thread_id=ROOM_1, date=LATER)
    await dispatcher.feed_update(bot, answer)
    copied = [(m.chat_id, m.message_id) for m in bot.session.sent("copyMessage")]
    assert (BOLAT, answer.message.message_id) in copied
    assert texts(bot, SUPPORT_CHAT_ID, ROOM_1)[-1] == (
        "📨 Sent to the 2 clients of outage #1: 1 reported it, 1 wrote while it ran."
    )
    assert rows(database_url, "select id, first_response_at from tickets order by id") == [
        (1, "2026-10-02 04:10:00.000000"),
        (2, "2026-10-02 04:10:00.000000"),
    ]
