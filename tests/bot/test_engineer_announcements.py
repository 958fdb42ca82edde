"""Engineers hear in the general topic what the managers decide about emergencies and works."""

from __future__ import annotations

from aiogram.methods import SendMessage

from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.mocked_bot import MockedBot


def general_topic(bot: MockedBot) -> list[str]:
    return [
        m.text
        for m in bot.session.sent("sendMessage")
        if isinstance(m, SendMessage) and m.chat_id == SUPPORT_CHAT_ID and not m.message_thread_id
    ]


async def test_an_emergency_declared_and_ended_is_told_to_the_engineers(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency on DC power"))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency off"))

    assert general_topic(bot) == [
        "🚨 The managers declared an emergency: new tickets must be answered within 1 hour.",
        "The emergency is over: new tickets are back to a first response within 10 minutes.",
    ]


async def test_maintenance_registered_and_cancelled_is_told_to_the_engineers(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(
        bot,
        updates.private(
            MANAGER_ID, "/maintenance all 2026-12-01 02:00 2026-12-01 04:00 Core switch"
        ),
    )
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/maintenance cancel 1"))

    window = "from 2026-12-01 02:00 to 2026-12-01 04:00 (Asia/Almaty)"
    assert general_topic(bot) == [
        f"🛠 Maintenance #1 planned (all services): {window}. Core switch",
        f"Maintenance #1 (all services, {window}) is cancelled.",
    ]


async def test_no_emergency_to_end_tells_the_engineers_nothing(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency off"))

    assert general_topic(bot) == []
