"""`/link CUSTOMER_ID` gives an unknown customer's ticket, and its client, their customer."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import ServiceType
from tests.bot.test_engineer_flow import CLIENT, TOPIC, open_ticket, texts_to
from tests.bot.test_engineer_topics import topic_names
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot


async def a_customer(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer("Steppe Cloud LLP")
        await crm.add_service(customer.id, ServiceType.DEDICATED, Decimal("150000"), name="rack-1")
        await session.commit()
        return customer.id


async def test_link_gives_the_ticket_and_its_client_the_customer_and_renames_the_topic(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    customer_id = await a_customer(sessionmaker)
    await open_ticket(dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.group(f"/link {customer_id}", thread_id=TOPIC))

    assert rows(database_url, "select customer_id from tickets") == [(customer_id,)]
    assert rows(
        database_url, f"select customer_id from contacts where telegram_user_id = {CLIENT}"
    ) == [(customer_id,)]
    said = texts_to(bot, SUPPORT_CHAT_ID)
    assert (
        f"🔗 #1 linked to Steppe Cloud LLP (id {customer_id}); so is the client, for later." in said
    )
    assert any(f"Customer: Steppe Cloud LLP (id {customer_id})" in text for text in said)
    assert "Steppe Cloud LLP" in topic_names(bot)[-1]
    assert ("linked",) in rows(database_url, "select kind from ticket_events")


async def test_link_refuses_a_bad_id_an_unknown_customer_and_a_linked_ticket(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    customer_id = await a_customer(sessionmaker)
    await open_ticket(dispatcher, bot, updates)
    for command in ("/link", "/link acme", "/link 999", f"/link {customer_id}", "/link 999"):
        await dispatcher.feed_update(bot, updates.group(command, thread_id=TOPIC))

    said = texts_to(bot, SUPPORT_CHAT_ID)
    usage = "Write it as: /link CUSTOMER_ID, e.g. /link 12"
    assert said.count(usage) == 2
    assert "There is no customer with id 999." in said
    assert said[-1] == f"#1 is already linked to Steppe Cloud LLP (id {customer_id})."
    assert rows(database_url, "select customer_id from tickets") == [(customer_id,)]
