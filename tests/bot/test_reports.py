"""/report and the monthly job: asked cheaply, built outside any write, sent once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from aiogram.utils.i18n import I18n
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import reports as report_module
from bot.outbox import OutboxWorker, RateLimits
from bot.reports import REPORT_LEASE, ReportBuilder, queue_monthly_reports, request_report
from bot.settings import BotSettings
from crm.models import Customer, Service
from crm.outbox import Outbox
from sla.model import ServiceType
from tests.conftest import MANAGER_ID, Desk, Updates
from tests.db import _psycopg_dsn, rows
from tests.fake_clock import FakeClock
from tests.mocked_bot import MockedBot

ASKED = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def replies(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text or "" for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def add_service(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> None:
    async with sessionmaker() as session:
        customer = Customer(name="Steppe Cloud LLP", created_at=datetime(2026, 1, 1, tzinfo=UTC))
        session.add(customer)
        await session.flush()
        session.add(
            Service(
                customer_id=customer.id,
                service_type=ServiceType.DEDICATED,
                name=name,
                monthly_fee=Decimal("150000"),
                currency="KZT",
                active_from=datetime(2026, 1, 1, tzinfo=UTC),
                in_provider_dc=True,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        await session.commit()


async def queue_request(
    sessionmaker: async_sessionmaker[AsyncSession], month: str, customer_id: int | None = None
) -> int:
    async with sessionmaker() as session:
        row = request_report(Outbox(session, lambda: ASKED), MANAGER_ID, month, customer_id)
        await session.commit()
        return row.id


def delivery(
    bot: MockedBot,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    builder: ReportBuilder,
    clock: FakeClock | None = None,
) -> OutboxWorker:
    limits = RateLimits(overall_per_second=1000, private_per_second=1000, group_per_minute=1000)
    return OutboxWorker(
        bot, sessionmaker, i18n, "en", limits, clock=clock or FakeClock(), jobs=builder.jobs()
    )


def assert_one_report(bot: MockedBot, month: str) -> None:
    summaries = [text for text in replies(bot, MANAGER_ID) if f"SLA report {month}" in text]
    assert len(summaries) == 1
    [document] = bot.session.sent("sendDocument")
    assert document.document.filename == f"sla-report-{month}.xlsx"
    [photo] = bot.session.sent("sendPhoto")
    assert photo.photo.data[:8] == b"\x89PNG\r\n\x1a\n"


def photo_caption(bot: MockedBot) -> str:
    [photo] = bot.session.sent("sendPhoto")
    return str(photo.caption)


def commit_without_waiting(database_url: str) -> None:
    """Another writer commits now, or fails at once if a write transaction is open."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE customers SET name = name || ' (renamed)'")
            connection.execute("COMMIT")
        finally:
            connection.close()
        return
    import psycopg

    with psycopg.connect(_psycopg_dsn(database_url)) as connection:
        connection.execute("SELECT id FROM outbox FOR UPDATE NOWAIT")
        connection.execute("UPDATE customers SET name = name || ' (renamed)'")


async def test_a_report_asked_for_arrives_as_summary_spreadsheet_and_chart(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add_service(sessionmaker, "rack-1")
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2026-10"))

    assert_one_report(bot, "2026-10")
    [document] = bot.session.sent("sendDocument")
    workbook = load_workbook(BytesIO(document.document.data))
    assert workbook.sheetnames == [
        "Summary", "Services", "Incidents", "Tickets", "Ticket statistics",
    ]  # fmt: skip
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(values_only=True)}
    assert summary["Month"] == "2026-10"
    services = list(workbook["Services"].iter_rows(values_only=True))
    assert [dict(zip(services[0], row, strict=True))["Service"] for row in services[1:]] == [
        "rack-1"
    ]
    assert document.caption.startswith("SLA report 2026-10")
    assert photo_caption(bot).startswith("SLA 2026-10")


async def test_while_a_report_is_built_no_write_transaction_is_open(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_service(sessionmaker, "rack-1")
    read, go_on_reading = asyncio.Event(), asyncio.Event()
    rendering, go_on_rendering = threading.Event(), threading.Event()
    real_load, real_render = report_module.load_month, report_module.render_report

    async def paused_load(*args: Any) -> Any:
        evidence = await real_load(*args)  # the read transaction is open until this returns
        read.set()
        await go_on_reading.wait()
        return evidence

    def paused_render(*args: Any) -> Any:
        rendering.set()
        go_on_rendering.wait(timeout=60)
        return real_render(*args)

    monkeypatch.setattr(report_module, "load_month", paused_load)
    monkeypatch.setattr(report_module, "render_report", paused_render)

    await dispatcher.dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2026-10"))
    draining = asyncio.create_task(dispatcher.worker.drain(timeout=60))
    await read.wait()
    commit_without_waiting(database_url)  # while the month is being read
    go_on_reading.set()
    await asyncio.to_thread(rendering.wait, 60)
    commit_without_waiting(database_url)  # while the spreadsheet and chart are drawn
    # The event loop is not held by the drawing: the desk goes on answering meanwhile.
    await dispatcher.dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/emergency off"))
    go_on_rendering.set()
    await draining

    assert_one_report(bot, "2026-10")
    assert "There is no emergency declared." in replies(bot, MANAGER_ID)
    renamed_twice = "Steppe Cloud LLP (renamed) (renamed)"
    assert rows(database_url, "select name from customers") == [(renamed_twice,)]


async def test_two_builders_send_one_report(
    bot: MockedBot,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    row_id = await queue_request(sessionmaker, "2026-10")
    first, second = (ReportBuilder(settings, sessionmaker, i18n) for _ in range(2))

    await asyncio.gather(first(row_id), second(row_id))
    await delivery(bot, sessionmaker, i18n, first).drain()

    assert_one_report(bot, "2026-10")


async def test_a_request_whose_builder_crashed_is_built_after_the_restart(
    bot: MockedBot,
    settings: BotSettings,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    row_id = await queue_request(sessionmaker, "2026-10")
    async with sessionmaker() as session:  # claimed, then the process died
        assert await Outbox(session).claim(row_id, ASKED, REPORT_LEASE) is not None
        await session.commit()

    restarted = FixedClock(ASKED + timedelta(seconds=1))
    await ReportBuilder(settings, sessionmaker, i18n, clock=restarted)(row_id)
    assert rows(database_url, "select count(*) from outbox where method != 'sendReport'") == [
        (0,)
    ]  # the dead claim still holds: a live builder elsewhere may be at work

    restarted.now = ASKED + REPORT_LEASE
    builder = ReportBuilder(settings, sessionmaker, i18n, clock=restarted)
    await delivery(bot, sessionmaker, i18n, builder, FakeClock(restarted.now)).drain()

    assert_one_report(bot, "2026-10")
    assert rows(database_url, "select status from outbox where id = ?", (row_id,)) == [("sent",)]


async def test_a_report_cut_short_by_a_stop_is_built_at_the_next_start(
    bot: MockedBot,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await queue_request(sessionmaker, "2026-10")
    reading, never = asyncio.Event(), asyncio.Event()

    async def stuck_load(*args: Any) -> Any:
        reading.set()
        await never.wait()

    monkeypatch.setattr(report_module, "load_month", stuck_load)
    builder = ReportBuilder(settings, sessionmaker, i18n, clock=FixedClock(ASKED))
    stopping = delivery(bot, sessionmaker, i18n, builder, FakeClock(ASKED))
    await stopping.deliver_once()
    await reading.wait()
    stopping.stop()
    await stopping.close()
    monkeypatch.undo()

    # Restarted a second later, well within the lease the stopped builder had taken.
    later = ASKED + timedelta(seconds=1)
    builder = ReportBuilder(settings, sessionmaker, i18n, clock=FixedClock(later))
    await delivery(bot, sessionmaker, i18n, builder, FakeClock(later)).drain()

    assert_one_report(bot, "2026-10")


async def test_a_report_that_cannot_be_made_is_answered_with_the_reason(
    bot: MockedBot,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    await queue_request(sessionmaker, "2026-10", customer_id=999)
    await queue_request(sessionmaker, "2099-01")

    builder = ReportBuilder(settings, sessionmaker, i18n)
    await delivery(bot, sessionmaker, i18n, builder).drain()

    # The two requests are built side by side; whichever finishes first is sent first.
    first, second = sorted(replies(bot, MANAGER_ID))
    assert first.startswith("No report for 2026-10") and "999" in first
    assert second.startswith("No report for 2099-01") and "future" in second
    assert bot.session.sent("sendDocument") == [] and bot.session.sent("sendPhoto") == []


async def test_the_monthly_job_asks_once_whatever_the_instances(
    bot: MockedBot,
    settings: BotSettings,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
) -> None:
    first_of_november = FixedClock(datetime(2026, 11, 1, 4, 0, tzinfo=UTC))
    for _instance in range(2):
        await queue_monthly_reports(settings, sessionmaker, lambda: None, first_of_november)

    assert rows(database_url, "select chat_id, method from outbox") == [(MANAGER_ID, "sendReport")]
    await delivery(bot, sessionmaker, i18n, ReportBuilder(settings, sessionmaker, i18n)).drain()
    assert_one_report(bot, "2026-10")


async def test_a_report_in_telegram_carries_the_evidence_chain_head_it_was_read_at(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    await add_service(sessionmaker, "rack-1")
    await dispatcher.feed_update(bot, updates.private(700001, "rack-1 is down"))
    await dispatcher.feed_update(bot, updates.private(MANAGER_ID, "/report 2026-10"))

    [summary] = [text for text in replies(bot, MANAGER_ID) if "SLA report 2026-10" in text]
    head = summary.splitlines()[-1].removeprefix("Evidence chain head: ")
    assert head in {
        hash_ for (hash_,) in rows(database_url, "SELECT chain_hash FROM evidence_chain")
    }
    [document] = bot.session.sent("sendDocument")
    about = {
        row[0]: row[1]
        for row in load_workbook(BytesIO(document.document.data))["Summary"].iter_rows(
            values_only=True
        )
    }
    assert about["Evidence chain head"] == head
