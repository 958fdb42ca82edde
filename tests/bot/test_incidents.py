"""Outage evidence through the bot, down to the monthly report the manager receives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import ServiceType
from crm.reporting import monthly_report
from sla import SlaConfig, report_to_dict
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
TOPIC = 100
OCT_2 = datetime(2026, 10, 2, 4, 0, tzinfo=UTC)  # 09:00 in Almaty


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def linked_client(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    service_type: ServiceType = ServiceType.DEDICATED,
) -> None:
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        await crm.add_service(
            customer.id,
            service_type,
            Decimal("150000"),
            name="rack-1",
            active_from=datetime(2026, 1, 1, tzinfo=UTC),
        )
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
    await dispatcher.feed_update(bot, updates.private(CLIENT, f"/start {token}", date=OCT_2))


async def test_down_opens_an_incident_at_the_clients_message_time(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))

    assert rows(database_url, "select service_id, status, client_notice_at from incidents") == [
        (1, "reported", "2026-10-02 04:00:00.000000")
    ]
    assert any("recorded that rack-1 is down since" in text for text in replies(bot, CLIENT))
    assert any("/confirm LAYER" in text for text in replies(bot, SUPPORT_CHAT_ID))


async def test_confirm_restore_and_report_count_the_downtime(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))
    await dispatcher.feed_update(
        bot, updates.group("/confirm hardware", thread_id=TOPIC, date=OCT_2 + timedelta(minutes=5))
    )
    # Stated local time 10:00 Almaty = 05:00 UTC: 60 minutes after the client's notice.
    await dispatcher.feed_update(
        bot, updates.group("/restored 10:00", thread_id=TOPIC, date=OCT_2 + timedelta(hours=2))
    )

    assert rows(database_url, "select status, layer, restored_at from incidents") == [
        ("confirmed", "hardware", "2026-10-02 05:00:00.000000")
    ]
    assert any("Counted downtime: 1 hour," in text for text in replies(bot, CLIENT))
    kinds = rows(database_url, "select kind, stated from incident_events order by id")
    assert kinds == [("reported", 0), ("confirmed", 0), ("restored", 1)]

    async with sessionmaker() as session:
        report, _ = await monthly_report(
            session, "2026-10", SlaConfig(), datetime(2026, 11, 5, tzinfo=UTC)
        )
    service = report_to_dict(report)["services"][0]
    # October has 31 days: 44640 minutes; 60 counted → 99.8655 % → the dash band, 0 %.
    assert service["active_minutes"] == 44640
    assert service["downtime_minutes"] == 60
    assert service["availability_percent"] == 99.8655
    assert service["credit_amount"] == "0.00"


async def test_restoration_before_the_start_or_in_the_future_is_refused(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))
    later = OCT_2 + timedelta(hours=1)
    await dispatcher.feed_update(
        bot, updates.group("/restored 2026-10-02 08:00", thread_id=TOPIC, date=later)
    )
    assert "before the outage started" in replies(bot, SUPPORT_CHAT_ID)[-1]
    await dispatcher.feed_update(
        bot, updates.group("/restored 2026-10-03 08:00", thread_id=TOPIC, date=later)
    )
    assert "in the future" in replies(bot, SUPPORT_CHAT_ID)[-1]
    await dispatcher.feed_update(bot, updates.group("/restored 25:00", thread_id=TOPIC, date=later))
    assert "not a time" in replies(bot, SUPPORT_CHAT_ID)[-1]
    assert rows(database_url, "select restored_at from incidents") == [(None,)]


async def test_confirm_needs_a_known_layer(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))
    await dispatcher.feed_update(bot, updates.group("/confirm kernel", thread_id=TOPIC))

    assert "hardware, network" in replies(bot, SUPPORT_CHAT_ID)[-1]
    assert rows(database_url, "select status from incidents") == [("reported",)]


async def test_engineer_commands_on_a_ticket_without_outage_explain_how_to_open_one(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "question"))
    await dispatcher.feed_update(bot, updates.group("/confirm network", thread_id=TOPIC))

    assert "/outage SERVICE_ID" in replies(bot, SUPPORT_CHAT_ID)[-1]


async def test_phone_outage_starts_at_the_stated_call_time(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(
        bot, updates.group("/phone 1 08:40 rack-1 unreachable", date=OCT_2)
    )
    thread = bot.session.sent("createForumTopic")[-1]
    assert thread.name.startswith("#1 · Steppe Cloud LLP")
    await dispatcher.feed_update(bot, updates.group("/outage 1", thread_id=TOPIC, date=OCT_2))

    assert rows(database_url, "select channel, opened_at from tickets") == [
        ("phone", "2026-10-02 03:40:00.000000")
    ]
    assert rows(database_url, "select client_notice_at from incidents") == [
        ("2026-10-02 03:40:00.000000",)
    ]


async def test_maintenance_is_announced_to_the_customers_clients(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(
        bot,
        updates.private(
            MANAGER_ID, "/maintenance 1 2026-12-01 02:00 2026-12-01 04:00 Switch upgrade"
        ),
    )

    assert "registered; 1 client will be notified." in replies(bot, MANAGER_ID)[-1]
    assert "2026-12-01 02:00" in replies(bot, CLIENT)[-1]
    assert rows(database_url, "select service_id, starts_at, ends_at from maintenance_windows") == [
        (1, "2026-11-30 21:00:00.000000", "2026-11-30 23:00:00.000000")
    ]


async def test_maintenance_with_bad_times_is_explained_and_not_saved(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(
        bot, updates.private(MANAGER_ID, "/maintenance all 2026-12-01 04:00 2026-12-01 02:00 x")
    )
    assert "end must be after the start" in replies(bot, MANAGER_ID)[-1]
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance all tomorrow"))
    assert "/maintenance SERVICE_ID|all" in replies(bot, MANAGER_ID)[-1]
    assert rows(database_url, "select count(*) from maintenance_windows") == [(0,)]


async def test_manager_commands_are_refused_to_others(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    for command in ("/report", "/emergency on", "/maintenance list"):
        await dispatcher.feed_update(bot, updates.private(CLIENT, command))
        assert "managers only" in replies(bot, CLIENT)[-1]
    assert rows(database_url, "select count(*) from emergencies") == [(0,)]


async def test_emergency_gives_new_tickets_the_emergency_target(
    dispatcher: Desk, bot: MockedBot, updates: Updates, database_url: str
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency on DC power"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "nothing works"))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency off"))
    await dispatcher.feed_update(bot, updates.private(700002, "still broken?"))

    assert rows(database_url, "select emergency, opened_at, response_due_at from tickets") == [
        (1, "2026-11-02 09:00:00.000000", "2026-11-02 10:00:00.000000"),
        (0, "2026-11-02 09:00:00.000000", "2026-11-02 09:10:00.000000"),
    ]


async def test_report_for_managers_sends_summary_spreadsheet_and_chart(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2026-10"))

    assert "2026-10" in replies(bot, MANAGER_ID)[-1]
    [document] = bot.session.sent("sendDocument")
    assert document.document.filename == "sla-report-2026-10.xlsx"
    assert document.document.data[:2] == b"PK"  # a zip container, as every .xlsx is
    [photo] = bot.session.sent("sendPhoto")
    assert photo.photo.data[:8] == b"\x89PNG\r\n\x1a\n"


async def test_report_with_a_bad_or_future_month_sends_nothing_else(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2026-13"))
    assert "not a month" in replies(bot, MANAGER_ID)[-1]
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2099-01"))
    assert "No report for 2099-01" in replies(bot, MANAGER_ID)[-1]
    assert bot.session.sent("sendDocument") == [] and bot.session.sent("sendPhoto") == []


async def test_claim_records_the_month_for_the_customers_services(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/claim 2026-10"))
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/claim 2026-10"))

    assert rows(database_url, "select service_id, month from credit_claims") == [(1, "2026-10")]
    async with sessionmaker() as session:
        report, _ = await monthly_report(
            session, "2026-10", SlaConfig(), datetime(2026, 11, 5, tzinfo=UTC)
        )
    assert json.loads(json.dumps(report_to_dict(report)))["services"][0]["claimed"] is True
