"""The monthly report in Telegram: a summary, the spreadsheet and the chart.

Asking for a report only queues a request (an outbox job row) in the asker's transaction.
The outbox worker hands the request to `ReportBuilder`, which reads the month through a
read-only session, renders in a thread, and then queues the three messages and marks the
request done in one short write transaction. SQLite has a single writer: a report built
inside the poller's transaction would hold every update, alert and delivery behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from bot.jobs import FinishingJobs
from bot.metrics import DeskMetrics
from bot.outbox import Job
from bot.settings import BotSettings
from bot.timers import scan_clocks
from bot.trials import scan_trials
from crm.clock import Clock, utc_now
from crm.db import make_engine, make_sessionmaker
from crm.errors import CrmError
from crm.models import JobRun, OutboxMessage, Purpose
from crm.outbox import REPORT_REQUEST, Outbox, QueuedRow
from crm.reporting import MonthEvidence, load_month
from sla import (
    MonthlyReport,
    SlaConfig,
    TicketRecord,
    build_monthly_report,
    previous_month,
    report_to_dict,
)
from sla.intervals import short_duration
from sla.report import partial_words

log = structlog.get_logger()

TELEGRAM_TEXT_LIMIT = 4096
# Longer than any build takes; a claim lost in a crash is taken up again after it.
REPORT_LEASE = timedelta(minutes=5)
# A build that broke (not a refusal: a bug, the database gone) is tried again after this.
RETRY_BROKEN_BUILD = timedelta(minutes=5)


def request_report(
    outbox: Outbox,
    chat_id: int,
    month: str,
    customer_id: int | None = None,
    *,
    locale: str | None = None,
) -> QueuedRow:
    """Queues a report for `chat_id`; it is built and sent after the caller commits.

    `month` is YYYY-MM; a month the report cannot cover (in the future, say) or an unknown
    customer is answered with the reason, in `locale`.
    """
    return outbox.request_report(chat_id, month, customer_id, locale)


@dataclass(frozen=True)
class ReportRequest:
    row_id: int
    chat_id: int
    month: str
    customer_id: int | None
    locale: str | None
    asked_at: datetime

    @classmethod
    def of(cls, row: OutboxMessage) -> ReportRequest:
        customer_id = row.payload.get("customer_id")
        return cls(
            row_id=row.id,
            chat_id=row.chat_id,
            month=str(row.payload["month"]),
            customer_id=int(customer_id) if customer_id is not None else None,
            locale=row.payload.get("locale"),
            asked_at=row.created_at,
        )


@dataclass(frozen=True)
class BuiltReport:
    summary: str
    workbook: bytes
    chart: bytes
    workbook_caption: str = ""
    chart_caption: str = ""


WORST_IN_SUMMARY = 5
BREACHES_IN_SUMMARY = 15


def telegram_summary(report: MonthlyReport, tickets: Sequence[TicketRecord] = ()) -> str:
    """What a manager reads first: the state of the month, the worst services by name, the
    credits due and the breaches; every figure in full is in the spreadsheet."""
    data = report_to_dict(report)
    config = report.config
    lines = [f"SLA report {data['month']} ({data['timezone']})"]
    if report.partial:
        lines.append(partial_words(report))
    if data["empty"]:
        lines.append("No services, tickets or incidents in this month.")
        return "\n".join(lines)
    services = data["services"]
    target = float(config.availability_target_percent)
    below = [
        s for s in services
        if s["availability_percent"] is not None and s["availability_percent"] < target
    ]  # fmt: skip
    below.sort(key=lambda s: s["availability_percent"])
    lines.append(f"Services: {len(services)}; below {target:g} %: {len(below)}.")
    credits: dict[str, Decimal] = {}
    for service in services:
        amount = Decimal(service["total_credit_amount"])
        if amount:
            credits[service["currency"]] = credits.get(service["currency"], Decimal(0)) + amount
    if credits:
        due = ", ".join(f"{amount:.2f} {currency}" for currency, amount in sorted(credits.items()))
        lines.append(f"Credits due: {due}.")
    if below:
        lines.append("Worst services:")
        for s in below[:WORST_IN_SUMMARY]:
            credit = "" if s["total_credit_amount"] == "0.00" else (
                f", credit {s['total_credit_amount']} {s['currency']}"
            )  # fmt: skip
            claimed = " (claimed)" if s["claimed"] else ""
            lines.append(
                f"• {s['customer']} — {s['service_name']}: {s['availability_percent']:.4f} %, "
                f"down {s['downtime_minutes']:g} min{credit}{claimed}"
            )
    unanswered = sum(1 for ticket in tickets if ticket.first_response_at is None)
    lines.extend(_ticket_lines(data["tickets"], config, unanswered))
    if report.evidence_head:
        lines.append(f"Evidence chain head: {report.evidence_head}")
    return "\n".join(lines)


def _ticket_lines(tickets: dict[str, Any], config: SlaConfig, unanswered: int) -> list[str]:
    first = tickets["first_response"]
    target = short_duration(config.telegram_first_response)
    if tickets["count"] == 0:
        return ["No tickets this month."]
    within = first["within_target_percent"]
    line = f"Tickets: {tickets['count']}; first response within target (Telegram {target})"
    line += f": {within} %" if within is not None else ": none measured"
    if unanswered > 0:
        line += f"; {unanswered} not answered"
    lines = [line + "."]
    breaches = first["breaches"]
    if breaches:
        shown = ", ".join(f"#{number}" for number in breaches[:BREACHES_IN_SUMMARY])
        more = len(breaches) - BREACHES_IN_SUMMARY
        lines.append(
            f"First-response breaches ({len(breaches)}): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    restoration = tickets["restoration"]["breaches"]
    if restoration:
        labels = ", ".join(
            f"#{b['ticket_number']}" if b["ticket_number"] is not None
            else f"incident {b['incident_id']}"
            for b in restoration[:BREACHES_IN_SUMMARY]
        )  # fmt: skip
        lines.append(f"Restoration breaches ({len(restoration)}): {labels}")
    return lines


def render_report(
    month: str,
    evidence: MonthEvidence,
    config: SlaConfig,
    now: datetime,
    customers: Mapping[int, str] | None = None,
) -> BuiltReport:
    """CPU only (the SLA engine, openpyxl, matplotlib): run in a thread."""
    # matplotlib and openpyxl load on the first report, not at every start of the bot.
    from crm.exports import WorkbookInput, report_chart, report_workbook

    report = build_monthly_report(
        month,
        evidence.services,
        evidence.incidents,
        evidence.maintenance,
        evidence.tickets,
        evidence.claims,
        config,
        now,
        evidence.evidence_head,
    )
    data = report_to_dict(report)
    summary = telegram_summary(report, evidence.tickets)
    if len(summary) > TELEGRAM_TEXT_LIMIT:
        summary = summary[: TELEGRAM_TEXT_LIMIT - 40] + "\n… (full figures in the spreadsheet)"
    chart = report_chart(
        data, evidence.tickets, config.telegram_first_response.total_seconds() / 60, config
    )
    extra = WorkbookInput(evidence.tickets, evidence.incidents, customers or {})
    to_date = " (month to date)" if report.partial else ""
    return BuiltReport(
        summary,
        report_workbook(data, config, extra),
        chart,
        workbook_caption=(
            f"SLA report {month}{to_date}: summary, services with credits, incidents with "
            f"their evidence times, tickets. Times in {config.timezone}."
        ),
        chart_caption=(
            f"SLA {month}{to_date}: first responses against the "
            f"{short_duration(config.telegram_first_response)} target; the worst services "
            "against the availability bands."
        ),
    )


async def build_report(settings: BotSettings, request: ReportRequest) -> BuiltReport:
    """Reads without a write lock (SQLite in WAL mode lets writers go on), renders in a
    thread so the event loop keeps polling and delivering."""
    from crm.exports import ticket_customers

    config = settings.sla_config()
    # Its own engine: a read-only BEGIN, and nothing pooled between reports that are rare.
    engine = make_engine(settings.database_url, reads_only=True, poolclass=NullPool)
    try:
        async with make_sessionmaker(engine)() as session:
            evidence = await load_month(session, request.month, config, request.customer_id)
            customers = await ticket_customers(session, request.month, config)
    finally:
        await engine.dispose()
    return await asyncio.to_thread(
        render_report, request.month, evidence, config, request.asked_at, customers
    )


class ReportBuilder:
    """The outbox worker's job for report requests: claim, build, queue, exactly once."""

    def __init__(
        self,
        settings: BotSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        *,
        write_gate: AbstractAsyncContextManager[Any] | None = None,
        clock: Clock = utc_now,
        lease: timedelta = REPORT_LEASE,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.write_gate = write_gate or contextlib.nullcontext()
        self.clock = clock
        self.lease = lease

    def jobs(self) -> dict[str, Job]:
        """What to hand to `OutboxWorker(jobs=...)`."""
        return {REPORT_REQUEST: self}

    async def __call__(self, row_id: int) -> None:
        claimed = await self._claim(row_id)
        if claimed is None:
            return
        request, token = claimed
        try:
            built: BuiltReport | str = await build_report(self.settings, request)
        except (ValueError, CrmError) as error:
            built = self._refusal(request, error)
        except asyncio.CancelledError:
            # Stopping: the next start builds it at once instead of after the lease.
            await self._release(request, token, "stopped while building", timedelta(0))
            raise
        except Exception as error:
            await self._release(request, token, repr(error), RETRY_BROKEN_BUILD)
            raise
        await self._finish(request, token, built)

    async def _claim(self, row_id: int) -> tuple[ReportRequest, int] | None:
        async with self.write_gate, self.sessionmaker() as session:
            token = await Outbox(session, self.clock).claim(row_id, self.clock(), self.lease)
            row = await session.get(OutboxMessage, row_id) if token is not None else None
            await session.commit()
        if token is None or row is None:
            return None
        log.info("report_building", row=row_id, month=row.payload.get("month"))
        return ReportRequest.of(row), token

    def _refusal(self, request: ReportRequest, error: ValueError | CrmError) -> str:
        if isinstance(error, CrmError):
            reason = f"{error.code} {request.customer_id}" if request.customer_id else error.code
        else:
            reason = str(error)
        text = self.i18n.gettext(
            "No report for {month}: {reason}", locale=request.locale or self.i18n.default_locale
        )
        return text.format(month=request.month, reason=reason)

    async def _finish(self, request: ReportRequest, token: int, built: BuiltReport | str) -> None:
        async with self.write_gate, self.sessionmaker() as session:
            outbox = Outbox(session, self.clock)
            if not await outbox.complete(request.row_id, token, self.clock()):
                # The lease ran out and another builder took the request: it sends the report.
                await session.rollback()
                log.warning("report_claim_lost", row=request.row_id)
                return
            chat, month = request.chat_id, request.month
            if isinstance(built, str):
                outbox.send_message(chat, built, purpose=Purpose.REPORT)
            else:
                outbox.send_message(chat, built.summary, purpose=Purpose.REPORT)
                outbox.send_file(
                    chat, "sendDocument", f"sla-report-{month}.xlsx", built.workbook,
                    purpose=Purpose.REPORT, caption=built.workbook_caption,
                )  # fmt: skip
                outbox.send_file(
                    chat, "sendPhoto", f"sla-chart-{month}.png", built.chart,
                    purpose=Purpose.REPORT, caption=built.chart_caption,
                )  # fmt: skip
            await session.commit()
        log.info("report_queued", row=request.row_id, month=request.month)

    async def _release(
        self, request: ReportRequest, token: int, error: str, retry_in: timedelta
    ) -> None:
        async with self.write_gate, self.sessionmaker() as session:
            retry_at = self.clock() + retry_in
            await Outbox(session, self.clock).release(request.row_id, token, error, retry_at)
            await session.commit()


async def queue_monthly_reports(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    on_queued: Callable[[], None],
    clock: Clock = utc_now,
) -> None:
    """On the 1st: last month's report requested for every manager, in one transaction."""
    now = clock()
    month = previous_month(now, settings.zone)
    async with sessionmaker() as session:
        # The job's row is the lease: another instance that ran it first makes this fail.
        session.add(JobRun(job="monthly_report", period=month, done_at=now))
        outbox = Outbox(session, clock)
        for manager_id in sorted(settings.manager_ids):
            request_report(outbox, manager_id, month)
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
    metrics: DeskMetrics | None = None,
    jobs: FinishingJobs | None = None,
) -> AsyncIOScheduler:
    jobs = jobs or FinishingJobs()
    scheduler = AsyncIOScheduler(timezone=settings.zone)
    scheduler.add_job(
        jobs.wrap(scan_clocks),
        IntervalTrigger(seconds=settings.timer_scan_seconds),
        args=(settings, sessionmaker, i18n, on_queued, metrics),
        id="sla_clocks",
        next_run_time=utc_now(),  # at start: catch up on what fell due while down
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        jobs.wrap(scan_trials),
        IntervalTrigger(seconds=settings.timer_scan_seconds),
        args=(settings, sessionmaker, i18n, on_queued),
        id="trial_timers",
        next_run_time=utc_now(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        jobs.wrap(queue_monthly_reports),
        CronTrigger(day=1, hour=settings.monthly_report_hour, minute=0, timezone=settings.zone),
        args=(settings, sessionmaker, on_queued),
        id="monthly_sla_report",
        replace_existing=True,
        misfire_grace_time=6 * 3600,
        coalesce=True,
    )
    return scheduler
