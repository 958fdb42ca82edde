"""Planned maintenance through a manager's private chat: what the manager and the clients
read, with the service named and the times in the provider's zone (Asia/Almaty)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import ServiceType
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
PLAN_RACK = "/maintenance 1 2026-12-03 01:00 2026-12-03 03:00 Switch upgrade"


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def linked_client(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    language_code: str = "en",
) -> None:
    """Steppe Cloud LLP with its service 1, «rack-1», and CLIENT linked to it."""
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
    await dispatcher.feed_update(
        bot, updates.private(CLIENT, f"/start {token}", language_code=language_code)
    )


async def test_the_clients_notice_names_the_service_and_the_zone(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, PLAN_RACK))

    assert replies(bot, CLIENT)[-1] == (
        "Planned maintenance of «rack-1» from 2026-12-03 01:00 to 2026-12-03 03:00 "
        "(Asia/Almaty): Switch upgrade"
    )
    assert replies(bot, MANAGER_ID)[-1] == "Maintenance #1 registered; 1 client will be notified."


async def test_a_window_for_all_services_is_told_as_all_your_services(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates, language_code="ru")
    await dispatcher.feed_update(
        bot, updates.private(MANAGER_ID, "/maintenance all 2026-12-03 01:00 2026-12-03 03:00 DC")
    )

    assert replies(bot, CLIENT)[-1] == (
        "Плановые работы на всех ваших сервисах с 2026-12-03 01:00 до 2026-12-03 03:00 "
        "(Asia/Almaty): DC"
    )


async def test_a_window_already_over_is_refused_with_the_times_read_in_the_providers_zone(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    told_before = len(replies(bot, CLIENT))
    # The command is sent at 2026-11-02 14:00 in Almaty.
    await dispatcher.feed_update(
        bot, updates.private(MANAGER_ID, "/maintenance 1 2026-11-02 11:00 2026-11-02 13:00 x")
    )

    assert replies(bot, MANAGER_ID)[-1] == (
        "Not planned: the window 2026-11-02 11:00 – 13:00 Asia/Almaty has already ended "
        "(times are read in Asia/Almaty)."
    )
    assert rows(database_url, "select count(*) from maintenance_windows") == [(0,)]
    assert len(replies(bot, CLIENT)) == told_before


async def test_a_window_already_running_is_accepted_and_announced_at_once(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(
        bot, updates.private(MANAGER_ID, "/maintenance 1 2026-11-02 13:00 2026-11-02 16:00 Fix")
    )

    assert replies(bot, MANAGER_ID)[-1] == (
        "Maintenance #1 registered; 1 client will be notified.\n"
        "It started already at 2026-11-02 13:00 (Asia/Almaty): downtime from then on is "
        "excluded and the clients are told now."
    )
    assert replies(bot, CLIENT)[-1].startswith("Planned maintenance of «rack-1» from 2026-11-02")
    assert rows(database_url, "select count(*) from maintenance_windows") == [(1,)]


async def test_cancelling_tells_the_clients_who_were_told_in_their_language(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates, language_code="kk")
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, PLAN_RACK))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance cancel 1"))

    assert replies(bot, CLIENT)[-1] == (
        "«rack-1» сервисіндегі 2026-12-03 01:00 – 2026-12-03 03:00 (Asia/Almaty) "
        "жоспарлы жұмыстардың күші жойылды."
    )
    assert replies(bot, MANAGER_ID)[-1] == "Maintenance #1 cancelled; 1 client will be told."


async def test_a_second_cancel_tells_nobody_again(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, PLAN_RACK))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance cancel 1"))
    told = len(replies(bot, CLIENT))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance cancel 1"))

    assert replies(bot, MANAGER_ID)[-1] == "Maintenance #1 cancelled; 0 clients will be told."
    assert len(replies(bot, CLIENT)) == told


async def test_the_list_names_the_service_and_its_customer_with_the_zone(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, PLAN_RACK))
    await dispatcher.feed_update(
        bot, updates.private(MANAGER_ID, "/maintenance all 2026-12-04 23:00 2026-12-05 01:00 DC")
    )
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance list"))

    assert replies(bot, MANAGER_ID)[-1].splitlines() == [
        "#1 · rack-1 (Steppe Cloud LLP) · 2026-12-03 01:00 – 03:00 Asia/Almaty · Switch upgrade",
        "#2 · all services · 2026-12-04 23:00 – 2026-12-05 01:00 Asia/Almaty · DC",
    ]


def test_the_count_of_clients_told_takes_each_languages_plural_forms(i18n: I18n) -> None:
    singular = "Maintenance #{id} registered; {count} client will be notified."
    plural = "Maintenance #{id} registered; {count} clients will be notified."

    def said(count: int, locale: str) -> str:
        return i18n.gettext(singular, plural, count, locale=locale).format(id=1, count=count)

    assert said(1, "en").endswith("1 client will be notified.")
    assert said(2, "en").endswith("2 clients will be notified.")
    assert said(1, "ru").endswith("будет уведомлён 1 клиент.")
    assert said(3, "ru").endswith("будут уведомлены 3 клиента.")
    assert said(5, "ru").endswith("будут уведомлены 5 клиентов.")
    assert said(21, "ru").endswith("будет уведомлён 21 клиент.")
    assert said(1, "kk") == "#1 жоспарлы жұмыстар тіркелді; 1 клиентке хабарланады."
    assert said(7, "kk") == "#1 жоспарлы жұмыстар тіркелді; 7 клиентке хабарланады."
