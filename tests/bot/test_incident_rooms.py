"""Incidents with their own rooms (issue 9), through the bot with a strict mocked session:
reports of one outage gather in one forum topic, commands there reach every reporter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.incidents import IncidentService
from crm.models import ServiceType
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

AIGERIM, BOLAT = 700001, 700002
TICKET_TOPIC, ROOM = 100, 101
OCT_2 = datetime(2026, 10, 2, 4, 0, tzinfo=UTC)  # 09:00 in Almaty


def texts(bot: MockedBot, chat_id: int, thread: int | None = None) -> list[str]:
    return [
        m.text
        for m in bot.session.sent("sendMessage")
        if m.chat_id == chat_id and (thread is None or m.message_thread_id == thread)
    ]


async def colleagues(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    services: int = 1,
) -> None:
    """Two contacts of one customer with `services` dedicated servers."""
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        for number in range(services):
            await crm.add_service(
                customer.id,
                ServiceType.DEDICATED,
                Decimal("150000"),
                name=f"rack-{number + 1}",
                active_from=datetime(2026, 1, 1, tzinfo=UTC),
            )
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
    for client, name in ((AIGERIM, "Aigerim"), (BOLAT, "Bolat")):
        start = updates.private(client, f"/start {token}", first_name=name, date=OCT_2)
        await dispatcher.feed_update(bot, start)


async def test_an_outage_opens_its_own_room_named_outage_with_the_evidence_so_far(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))

    topics = [t.name for t in bot.session.sent("createForumTopic")]
    assert topics[-1] == "Outage #1 · rack-1 · Steppe Cloud LLP"
    (card,) = texts(bot, SUPPORT_CHAT_ID, ROOM)[:1]
    reporter = card.split("\n\n")[-1]
    assert card.startswith("⚡ Outage #1: service 1 «rack-1» (dedicated) of Steppe Cloud LLP")
    assert "First evidence: a client's message at 2026-10-02 09:00 (Asia/Almaty)." in card
    assert reporter.startswith("📣 Aigerim (ticket #1) reported it at 2026-10-02 09:00.")
    assert any("its room is the topic «Outage #1" in t for t in texts(bot, SUPPORT_CHAT_ID, 100))


async def test_a_colleagues_report_joins_the_room_and_a_confirmation_there_tells_both(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    later = OCT_2 + timedelta(minutes=3)
    await dispatcher.feed_update(
        bot, updates.private(BOLAT, "/down", first_name="Bolat", date=later)
    )
    confirm_at = OCT_2 + timedelta(minutes=5)
    await dispatcher.feed_update(
        bot, updates.group("/confirm hardware", thread_id=ROOM, date=confirm_at)
    )

    # The first report's ticket and the room: the second report lives in the room.
    assert len(bot.session.sent("createForumTopic")) == 2
    assert rows(database_url, "select count(*) from incidents") == [(1,)]
    assert rows(database_url, "select source, ticket_id from incident_notices order by id") == [
        ("client", 1),
        ("client", 2),
    ]
    assert "#2 · Bolat · Steppe Cloud LLP: /down" in texts(bot, SUPPORT_CHAT_ID, ROOM)
    told = "We confirm the outage of rack-1. It counts as downtime from 2026-10-02 09:00."
    assert told in texts(bot, AIGERIM) and told in texts(bot, BOLAT)


async def test_restoring_twice_or_after_a_rejection_is_refused_with_the_reason(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates, services=2)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.callback(AIGERIM, "svc:1:1", message_id=9))
    hour = OCT_2 + timedelta(hours=1)
    for text in ("/confirm network", "/restored", "/restored"):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=ROOM, date=hour))
    await dispatcher.feed_update(bot, updates.group("/outage 2", thread_id=TICKET_TOPIC, date=hour))
    for text in ("/reject #2 client DNS", "/restored #2"):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=TICKET_TOPIC, date=hour))

    said = texts(bot, SUPPORT_CHAT_ID)
    assert any(
        t.startswith("Outage #1 is already restored at 2026-10-02 10:00: not changed.")
        for t in said
    )
    assert any(t.startswith("Outage #2 was rejected (client DNS): there is nothing") for t in said)
    restored = [t for t in texts(bot, AIGERIM) if "restored" in t or "working again" in t]
    assert len(restored) == 1  # the client heard of the restoration once


async def test_a_ticket_with_two_outages_asks_which_one_a_command_means(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates, services=2)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.callback(AIGERIM, "svc:1:1", message_id=9))
    later = OCT_2 + timedelta(minutes=5)
    for text in ("/outage 2", "/confirm hardware", "/confirm #2 hardware"):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=TICKET_TOPIC, date=later))

    said = texts(bot, SUPPORT_CHAT_ID, TICKET_TOPIC)
    assert any(
        t.startswith("This ticket reports several outages: #1 (rack-1), #2 (rack-2).") for t in said
    )
    assert rows(database_url, "select id, status from incidents order by id") == [
        (1, "reported"),
        (2, "confirmed"),
    ]


async def test_an_outage_in_an_old_ticket_starts_at_the_message_replied_to(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "how do I resize?", date=OCT_2))
    next_day = OCT_2 + timedelta(days=1)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "it is down now", date=next_day))
    command = updates.group(
        "/outage 1", thread_id=TICKET_TOPIC, date=next_day + timedelta(minutes=20)
    )
    await dispatcher.feed_update(bot, command)

    assert rows(database_url, "select client_notice_at from incidents") == [
        ("2026-10-03 04:00:00.000000",)
    ]
    assert any(
        "notice at 2026-10-03 09:00 (the client's last message" in t
        for t in texts(bot, SUPPORT_CHAT_ID, TICKET_TOPIC)
    )


async def test_help_in_a_room_names_what_acts_on_its_outage(
    dispatcher: Desk, bot: MockedBot, updates: Updates, sessionmaker: async_sessionmaker
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.group("/help", thread_id=ROOM))

    (answer,) = texts(bot, SUPPORT_CHAT_ID, ROOM)[-1:]
    assert answer.startswith("In an outage's room (the topic «Outage #N · …»), for that outage:")
    assert "/correct TIME REASON" in answer


async def test_an_imported_monitoring_incident_is_confirmed_by_number_in_the_general_topic(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    async with sessionmaker() as session:
        await IncidentService(session).monitoring(1, "csv:1", OCT_2, OCT_2 + timedelta(hours=1))
        await session.commit()
    await dispatcher.feed_update(bot, updates.group("/confirm os"))
    await dispatcher.feed_update(bot, updates.group("/confirm #1 os"))

    general = texts(bot, SUPPORT_CHAT_ID)
    assert any(t.startswith("Use this command in the outage's room") for t in general)
    assert rows(database_url, "select status, layer from incidents") == [("confirmed", "os")]


async def test_malformed_outage_commands_say_how_to_write_them_and_change_nothing(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker,
    database_url: str,
) -> None:
    await colleagues(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(AIGERIM, "/down", date=OCT_2))
    hour = OCT_2 + timedelta(hours=1)
    for text in ("/restored", "/correct 09:30", "/outage 1 25:99"):
        await dispatcher.feed_update(bot, updates.group(text, thread_id=TICKET_TOPIC, date=hour))

    said = texts(bot, SUPPORT_CHAT_ID, TICKET_TOPIC)
    assert any(t.startswith("Write it as: /correct TIME REASON") for t in said)
    assert any(t.startswith("Write it as: /outage SERVICE_ID [HH:MM") for t in said)
    assert rows(database_url, "select kind from incident_events order by id") == [
        ("reported",),
        ("restored",),
    ]
