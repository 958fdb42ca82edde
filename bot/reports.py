"""The monthly report in Telegram: a summary, the spreadsheet and the chart."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.settings import BotSettings
from crm.exports import report_chart, report_workbook
from crm.report_cli import previous_month
from crm.reporting import monthly_report
from sla import report_to_dict, report_to_text

log = structlog.get_logger()

TELEGRAM_TEXT_LIMIT = 4096


async def send_report(
    bot: Bot,
    chat_id: int,
    session: AsyncSession,
    settings: BotSettings,
    month: str,
    now: datetime,
    customer_id: int | None = None,
) -> None:
    """Builds everything first, so a bad month or customer sends nothing half-way."""
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
    await bot.send_message(chat_id, summary)
    await bot.send_document(
        chat_id, BufferedInputFile(workbook, filename=f"sla-report-{month}.xlsx")
    )
    await bot.send_photo(chat_id, BufferedInputFile(chart, filename=f"sla-chart-{month}.png"))


async def send_monthly_reports(
    bot: Bot, settings: BotSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """On the 1st: last month's report to every manager."""
    now = datetime.now(UTC)
    month = previous_month(now, settings.zone)
    for manager_id in sorted(settings.manager_ids):
        try:
            async with sessionmaker() as session:
                await send_report(bot, manager_id, session, settings, month, now)
        except TelegramAPIError as error:
            log.error("monthly_report_not_sent", manager=manager_id, error=str(error))


def make_scheduler(
    bot: Bot, settings: BotSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=settings.zone)
    scheduler.add_job(
        send_monthly_reports,
        CronTrigger(day=1, hour=settings.monthly_report_hour, minute=0, timezone=settings.zone),
        args=(bot, settings, sessionmaker),
        id="monthly_sla_report",
        replace_existing=True,
        misfire_grace_time=6 * 3600,
        coalesce=True,
    )
    return scheduler
