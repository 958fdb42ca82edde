"""Times and spans as engineers and clients read them: the date understood, seconds kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import make_i18n
from bot.settings import BotSettings
from bot.texts import duration
from sla.intervals import short_duration
from tests.bot.test_incidents import CLIENT, TOPIC, linked_client, replies
from tests.conftest import SUPPORT_CHAT_ID, Desk, Updates
from tests.mocked_bot import MockedBot

LATE_EVENING = datetime(2026, 10, 1, 18, 0, tzinfo=UTC)  # 23:00 in Almaty


async def test_a_bare_time_after_midnight_is_yesterday_and_the_reply_names_the_date(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=LATE_EVENING))
    await dispatcher.feed_update(
        bot, updates.group("/confirm hardware", thread_id=TOPIC, date=LATE_EVENING)
    )
    typed_at = LATE_EVENING + timedelta(hours=1, minutes=5)  # 00:05 on 2 October in Almaty
    await dispatcher.feed_update(
        bot, updates.group("/restored 23:59", thread_id=TOPIC, date=typed_at)
    )

    assert any(
        "restored at 2026-10-01 23:59 (Asia/Almaty); 59 minutes" in text
        for text in replies(bot, SUPPORT_CHAT_ID)
    )


async def test_a_sub_minute_outage_reads_in_seconds_for_engineers_and_clients(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await linked_client(sessionmaker, dispatcher, bot, updates)
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/down", date=LATE_EVENING))
    await dispatcher.feed_update(
        bot, updates.group("/confirm hardware", thread_id=TOPIC, date=LATE_EVENING)
    )
    await dispatcher.feed_update(
        bot,
        updates.group("/restored", thread_id=TOPIC, date=LATE_EVENING + timedelta(seconds=45)),
    )

    assert any("; 45 seconds from the first evidence" in t for t in replies(bot, SUPPORT_CHAT_ID))
    assert any("Counted downtime: 45 seconds," in text for text in replies(bot, CLIENT))


def test_spans_under_a_minute_are_worded_in_seconds() -> None:
    i18n = make_i18n("en")
    with i18n.context(), i18n.use_locale("en"):
        assert duration(timedelta(seconds=45)) == "45 seconds"
        assert duration(timedelta(seconds=1)) == "1 second"
        assert duration(timedelta(minutes=90)) == "90 minutes"
    with i18n.context(), i18n.use_locale("ru"):
        assert duration(timedelta(seconds=22)) == "22 секунды"
    assert short_duration(timedelta(seconds=45)) == "45 s"
    assert short_duration(timedelta(minutes=90)) == "1 h 30 min"


async def test_a_client_writing_again_within_a_minute_is_waiting_seconds_not_zero_minutes(
    dispatcher: Desk, bot: MockedBot, updates: Updates
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    await dispatcher.feed_update(
        bot, updates.private(CLIENT, "hello??", date=updates.now + timedelta(seconds=30))
    )

    assert "⏳ The client wrote again, waiting 30 seconds." in replies(bot, SUPPORT_CHAT_ID)


async def test_the_board_words_time_overdue_as_a_span(
    dispatcher: Desk, bot: MockedBot, updates: Updates, settings: BotSettings
) -> None:
    await dispatcher.feed_update(bot, updates.private(CLIENT, "VM unreachable"))
    due = updates.now + settings.sla_config().telegram_first_response
    # The board reads the wall clock: the test's ticket, opened in the past, is overdue by
    # however long ago that was when /board ran (whole hours are worded in hours).
    asked_from = datetime.now(UTC)
    await dispatcher.feed_update(bot, updates.group("/board"))
    asked_to = datetime.now(UTC)

    board = replies(bot, SUPPORT_CHAT_ID)[-1]
    i18n = make_i18n("en")
    with i18n.context(), i18n.use_locale("en"):
        spans = {duration(asked_from - due), duration(asked_to - due)}
    assert any(f"· 🔴 {span} overdue · unassigned" in board for span in spans), board
