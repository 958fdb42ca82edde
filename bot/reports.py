"""The monthly report in Telegram: a summary, the spreadsheet and the chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import BotSettings
from bot.timers import scan_clocks
from crm.models import JobRun, Purpose
from crm.outbox import Outbox
from crm.reporting import monthly_report
from sla import previous_month, report_to_dict, report_to_text

log = structlog.get_logger()

TELEGRAM_TEXT_LIMIT = 4096


async def queue_report(
    outbox: Outbox,
    chat_id: int,
    session: AsyncSession,
    settings: BotSettings,
    month: str,
    now: datetime,
    customer_id: int | None = None,
) -> None:
    """Builds everything first, so a bad month or customer queues nothing half-way."""
    # matplotlib and openpyxl load on the first report, not at every start of the bot.
    from crm.exports import report_chart, report_workbook

    config = settings.sla_config()
    report, evidence = await monthly_report(session, month, config, now, customer_id)
    data = report_to_dict(report)
    summary = report_to_text(report)
    workbook = report_workbook(data)
    chart = report_chart(
        data, evidence.tickets, config.telegram_first_response.total_seconds() / 60
    )
    if len(summary) > TELEGRAM_TEXT_LIMIT:
        summary = summary[: TELEGRAM_TEXT_LIMIT - 40] + "\n… (full figures in the spreadsheet)"
    outbox.send_message(chat_id, summary, purpose=Purpose.REPORT)
    outbox.send_file(
        chat_id, "sendDocument", f"sla-report-{month}.xlsx", workbook, purpose=Purpose.REPORT
    )
    outbox.send_file(chat_id, "sendPhoto", f"sla-chart-{month}.png", chart, purpose=Purpose.REPORT)


async def queue_monthly_reports(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    on_queued: Callable[[], None],
) -> None:
    """On the 1st: last month's report to every manager, queued in one transaction."""
    now = datetime.now(UTC)
    month = previous_month(now, settings.zone)
    async with sessionmaker() as session:
        # The job's row is the lease: another instance that ran it first makes this fail.
        session.add(JobRun(job="monthly_report", period=month, done_at=now))
        outbox = Outbox(session)
        for manager_id in sorted(settings.manager_ids):
            await queue_report(outbox, manager_id, session, settings, month, now)
        try:
            await session.commit()
        except IntegrityError:
            log.info("monthly_reports_already_sent", month=month)
            return
    log.info("monthly_reports_queued", month=month, managers=len(settings.manager_ids))
    on_queued()


def make_scheduler(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_queued: Callable[[], None],
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=settings.zone)
    scheduler.add_job(
        scan_clocks,
        IntervalTrigger(seconds=settings.timer_scan_seconds),
        args=(settings, sessionmaker, i18n, on_queued),
        id="sla_clocks",
        next_run_time=datetime.now(UTC),  # at start: catch up on what fell due while down
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        queue_monthly_reports,
        CronTrigger(day=1, hour=settings.monthly_report_hour, minute=0, timezone=settings.zone),
        args=(settings, sessionmaker, on_queued),
        id="monthly_sla_report",
        replace_existing=True,
        misfire_grace_time=6 * 3600,
        coalesce=True,
    )
    return scheduler
