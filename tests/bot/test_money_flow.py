"""Credit claims by month and object-storage trials through the bot (terms A 5.13 / B 5.9,
B 3): buttons, refusals with dates, the managers told, the trial's reminder and payment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.money_buttons import ClaimMonth, TrialDecision
from bot.settings import BotSettings
from bot.trials import queue_trial_notices
from crm.customers import CustomerService
from crm.models import ServiceType
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
OCT_2 = datetime(2026, 10, 2, 4, 0, tzinfo=UTC)  # 09:00 in Almaty
DEC_3 = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)


def texts(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


def buttons(bot: MockedBot, chat_id: int) -> list[tuple[str, str]]:
    last = [m for m in bot.session.sent("sendMessage") if m.chat_id == chat_id][-1]
    return [(b.text, b.callback_data) for row in last.reply_markup.inline_keyboard for b in row]


def alerts(bot: MockedBot) -> list[str]:
    return [a.text for a in bot.session.sent("answerCallbackQuery") if a.show_alert]


async def linked_customer(
    sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    *,
    language: str = "en",
) -> int:
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
        # Active only from December: never part of an October claim.
        await crm.add_service(
            customer.id,
            ServiceType.DEDICATED,
            Decimal("90000"),
            name="rack-2",
            active_from=datetime(2026, 12, 1, tzinfo=UTC),
        )
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
    start = updates.private(CLIENT, f"/start {token}", date=OCT_2, language_code=language)
    await dispatcher.feed_update(bot, start)
    return customer.id


async def test_claim_asks_which_month_and_refuses_a_duplicate_with_its_date_A5_13(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_customer(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=OCT_2))
    # Two services: the client picks rack-1 (the first button) as the one down.
    rack_1 = buttons(bot, CLIENT)[0][1]
    await dispatcher.feed_update(bot, updates.callback(CLIENT, rack_1))
    assert rows(database_url, "select service_id from incidents") == [(1,)]
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/claim"))
    assert "Which month" in texts(bot, CLIENT)[-1]
    # Only the month with an outage is offered, not the previous month by default.
    assert buttons(bot, CLIENT) == [("2026-10", ClaimMonth(month="2026-10").pack())]

    await dispatcher.feed_update(bot, updates.private(CLIENT, "/claim 2026-10", date=DEC_3))
    # rack-2 started in December: it is not claimed for October.
    assert rows(database_url, "select service_id, month from credit_claims") == [(1, "2026-10")]
    assert "credits of 2026-10 is recorded for: rack-1." in texts(bot, CLIENT)[-1]
    assert (
        "Steppe Cloud LLP claims the SLA credit of 2026-10 for: rack-1 (1)"
        in (texts(bot, MANAGER_ID)[-1])
    )

    # The month's button pressed after that: refused with the date of the claim.
    await dispatcher.feed_update(bot, updates.callback(CLIENT, ClaimMonth(month="2026-10").pack()))
    assert bot.session.sent("editMessageText")[-1].text == (
        "The credit of 2026-10 was already claimed on 2026-12-03 09:00; the managers have it."
    )
    assert len(texts(bot, MANAGER_ID)) == 1


async def test_claim_without_outages_says_none_is_due(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_customer(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/claim"))
    assert "No outage of your services is on record" in texts(bot, CLIENT)[-1]


async def test_trial_request_is_decided_once_by_a_manager_and_a_second_refused_B3(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_customer(sessionmaker, dispatcher, bot, updates, language="ru")
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/trial", language_code="ru"))
    request = texts(bot, MANAGER_ID)[-1]
    assert "Trial request #1: Steppe Cloud LLP" in request and "3 days" in request
    approve = TrialDecision(request_id=1, approve=True).pack()
    refuse = TrialDecision(request_id=1, approve=False).pack()
    assert [data for _, data in buttons(bot, MANAGER_ID)] == [approve, refuse]

    await dispatcher.feed_update(bot, updates.callback(MANAGER_ID, approve))
    assert "approved by" in bot.session.sent("editMessageText")[-1].text
    told = texts(bot, CLIENT)[-1]
    assert "3" in told and told != told.encode("ascii", "ignore").decode()  # in Russian
    assert rows(database_url, "select status, decided_by from trial_requests") == [
        ("approved", f"telegram:{MANAGER_ID}")
    ]
    # Another manager's (or the same) press on the same request: refused, nothing changes.
    await dispatcher.feed_update(bot, updates.callback(MANAGER_ID, refuse))
    assert alerts(bot)[-1].startswith("This request was already approved")
    assert rows(database_url, "select status from trial_requests") == [("approved",)]

    # A second trial is refused with the reason.
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/trial", language_code="ru"))
    assert len(texts(bot, MANAGER_ID)) == 1
    refusal = texts(bot, CLIENT)[-1]
    assert "(условия B 3)" in refusal
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}\.$", refusal), refusal

    # Clients cannot press a manager's button.
    await dispatcher.feed_update(bot, updates.callback(CLIENT, approve))
    assert rows(database_url, "select count(*) from trial_requests") == [(1,)]


async def test_trial_reminder_24_hours_ahead_in_the_clients_language_then_paid_B3(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    settings: BotSettings,
    i18n: I18n,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    customer_id = await linked_customer(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/lang"))  # English chosen
    activation = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)  # 09:00 local
    async with sessionmaker() as session:
        await CustomerService(session).add_service(
            customer_id,
            ServiceType.OBJECT_STORAGE,
            Decimal("60000"),
            name="bucket",
            active_from=activation,
            trial_days=3,
        )
        await session.commit()
    end = activation + timedelta(days=3)

    async def scan(now: datetime) -> int:
        async with sessionmaker() as session:
            count = await queue_trial_notices(session, settings, i18n, now)
            await session.commit()
        await dispatcher.worker.drain(timeout=10)
        return count

    assert await scan(end - timedelta(hours=24, minutes=1)) == 0
    assert await scan(end - timedelta(hours=23)) == 1
    assert texts(bot, CLIENT)[-1] == (
        "Your free object storage trial of «bucket» ends on 2026-12-08 09:00 (Asia/Almaty). "
        "Unless you switch the service off before then, it becomes paid: 60000.00 KZT a month "
        "(terms B 3)."
    )
    assert await scan(end - timedelta(hours=22)) == 0  # reminded once
    assert await scan(end + timedelta(minutes=1)) == 1
    assert "is a paid service from 2026-12-08 09:00" in texts(bot, CLIENT)[-1]
    assert await scan(end + timedelta(minutes=2)) == 0
    assert rows(database_url, "select kind, at from service_events where service_id = 3") == [
        ("added", "2026-12-05 04:00:00.000000"),
        ("trial_started", "2026-12-05 04:00:00.000000"),
        ("trial_reminded", "2026-12-07 05:00:00.000000"),
        ("paid", "2026-12-08 04:00:00.000000"),
    ]
