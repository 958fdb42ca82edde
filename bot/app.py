"""Wiring: settings → database → dispatcher → polling, and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import structlog
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from aiogram.utils.i18n import I18n
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.handlers import incident
from bot.handlers.client import buttons, claim, messages, outage, start, tickets, trial
from bot.handlers.engineer import board, handoff, offline, replies, room
from bot.handlers.engineer import mail as mail_commands
from bot.handlers.engineer import tickets as ticket_commands
from bot.handlers.manager import access, emergency, maintenance, report
from bot.handlers.manager import help as manager_help
from bot.handlers.manager import trial as manager_trial
from bot.i18n import LOCALES, DeskLocaleMiddleware, make_i18n
from bot.jobs import FinishingJobs
from bot.mail_reader import MailReader
from bot.mailer import MailSender
from bot.metrics import DeskMetrics, Heartbeat, UpdateCounter
from bot.middlewares import DatabaseMiddleware, TicketMiddleware, inline_magic_filters
from bot.outbox import OutboxWorker
from bot.polling import WriteGate, poll_in_batches
from bot.rate_limits import Limiter, RateLimits, RedisRateLimiter
from bot.reports import ReportBuilder, make_scheduler
from bot.settings import BotSettings
from bot.telegram import make_bot
from bot.wakeup import ALIVE_STAMP_SECONDS, check_wake_up, keep_alive
from bot.web import make_web_app
from crm.clock import utc_now
from crm.db import make_engine, make_sessionmaker, upgrade_database_async

log = structlog.get_logger()


def build_dispatcher(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_commit: Callable[[], None],
    storage: BaseStorage | None = None,
    metrics: DeskMetrics | None = None,
) -> Dispatcher:
    # With Redis, FSM state and per-chat event isolation are shared by every instance.
    isolation = storage.create_isolation() if isinstance(storage, RedisStorage) else None
    dispatcher = Dispatcher(storage=storage or MemoryStorage(), events_isolation=isolation)
    if metrics is not None:
        # Outermost: it sees how the database middleware's unit of work ended.
        dispatcher.update.outer_middleware(UpdateCounter(metrics))
    dispatcher.update.outer_middleware(DatabaseMiddleware(sessionmaker, settings, i18n, on_commit))
    DeskLocaleMiddleware(i18n, settings.support_chat_id, settings.engineer_language).setup(
        dispatcher
    )
    dispatcher.message.middleware(TicketMiddleware())
    # Specific commands first: the last router of each chat answers unknown commands and
    # takes whatever else is written there.
    dispatcher.include_routers(
        # the support group
        incident.get_router(settings),
        ticket_commands.get_router(settings),
        offline.get_router(settings),
        board.get_router(settings),
        mail_commands.get_router(settings),
        handoff.get_router(settings),
        room.get_router(settings),
        replies.get_router(settings),
        # departments' chats (hand-off)
        handoff.get_department_router(settings),
        # managers' private chats
        access.get_router(settings),
        maintenance.get_router(settings),
        emergency.get_router(settings),
        report.get_router(settings),
        manager_trial.get_router(settings),
        manager_help.get_router(settings),
        # clients' private chats
        start.get_router(settings),
        tickets.get_router(settings),
        outage.get_router(settings),
        claim.get_router(settings),
        trial.get_router(settings),
        buttons.get_router(settings),
        messages.get_router(settings),
    )
    inline_magic_filters(dispatcher)
    return dispatcher


def client_commands(i18n: I18n, locale: str) -> list[BotCommand]:
    t = partial(i18n.gettext, locale=locale)
    return [
        BotCommand(command="help", description=t("How to write to support")),
        BotCommand(command="down", description=t("Report that a service is down")),
        BotCommand(command="new", description=t("Start a new ticket")),
        BotCommand(command="tickets", description=t("Your tickets")),
        BotCommand(command="close", description=t("Close the current ticket")),
        BotCommand(command="claim", description=t("Claim the SLA credit of a month")),
        BotCommand(command="trial", description=t("Ask for a free object storage trial")),
        BotCommand(command="lang", description=t("Change the language")),
    ]


def manager_commands(i18n: I18n, locale: str) -> list[BotCommand]:
    """The clients' menu with the managers' commands ahead of it."""
    t = partial(i18n.gettext, locale=locale)
    clients = [c for c in client_commands(i18n, locale) if c.command != "help"]
    return [
        BotCommand(command="help", description=t("Manager commands")),
        BotCommand(command="report", description=t("SLA report: [YYYY-MM]")),
        BotCommand(command="maintenance", description=t("Plan, list or cancel maintenance")),
        BotCommand(command="emergency", description=t("Emergency mode: on or off")),
        BotCommand(command="board", description=t("Open tickets by time left")),
        *clients,
    ]


def engineer_commands(i18n: I18n, locale: str) -> list[BotCommand]:
    t = partial(i18n.gettext, locale=locale)
    return [
        BotCommand(command="note", description=t("Internal note (never reaches the client)")),
        BotCommand(command="take", description=t("Assign the ticket to yourself")),
        BotCommand(command="resolve", description=t("Resolve the ticket")),
        BotCommand(command="reopen", description=t("Reopen the ticket")),
        BotCommand(command="phone", description=t("Log a phone request: CUSTOMER_ID [HH:MM] TEXT")),
        BotCommand(
            command="email", description=t("Log an e-mail request: CUSTOMER_ID [HH:MM] TEXT")
        ),
        BotCommand(command="outage", description=t("Record an outage: SERVICE_ID")),
        BotCommand(command="confirm", description=t("Confirm the outage: LAYER")),
        BotCommand(command="reject", description=t("Not an outage: REASON")),
        BotCommand(command="restored", description=t("The service works again: [HH:MM]")),
        BotCommand(command="exclude", description=t("Do not count the outage's downtime")),
        BotCommand(command="restoration", description=t("Restoration by reboot or repair")),
        BotCommand(command="dataloss", description=t("The outage lost client data")),
        BotCommand(command="merge", description=t("Gather outages into one: #A #B …")),
        BotCommand(command="site", description=t("Gather a site's outages here: SITE")),
        BotCommand(command="open", description=t("Give one report its own topic: TICKET")),
        BotCommand(command="board", description=t("Open tickets by time left")),
        BotCommand(command="link", description=t("Link the ticket to a customer: CUSTOMER_ID")),
        BotCommand(command="sent", description=t("Record an answer given outside the desk")),
        BotCommand(command="handoff", description=t("Hand over to a department: NAME [NOTE]")),
        BotCommand(command="help", description=t("Engineer commands")),
    ]


async def register_commands(bot: Bot, settings: BotSettings, i18n: I18n) -> None:
    """Per-language command menus; a failure here must not keep the desk from starting."""
    try:
        await bot.set_my_commands(
            client_commands(i18n, "en"), scope=BotCommandScopeAllPrivateChats()
        )
        for locale in LOCALES:
            await bot.set_my_commands(
                client_commands(i18n, locale),
                scope=BotCommandScopeAllPrivateChats(),
                language_code=locale,
            )
        await bot.set_my_commands(
            engineer_commands(i18n, settings.engineer_language),
            scope=BotCommandScopeChat(chat_id=settings.support_chat_id),
        )
        for manager_id in sorted(settings.manager_ids):
            # A chat's own menu wins over the private chats' one, language by language.
            scope = BotCommandScopeChat(chat_id=manager_id)
            await bot.set_my_commands(manager_commands(i18n, "en"), scope=scope)
            for locale in LOCALES:
                await bot.set_my_commands(
                    manager_commands(i18n, locale), scope=scope, language_code=locale
                )
    except Exception as error:
        log.warning("commands_not_registered", error=str(error))


def make_fsm_storage(settings: BotSettings) -> BaseStorage:
    if settings.redis_url:
        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def make_outbox_worker(
    bot: Bot,
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    write_gate: asyncio.Lock | None = None,
    metrics: DeskMetrics | None = None,
) -> OutboxWorker:
    limits = RateLimits(
        overall_per_second=settings.outbox_overall_per_second,
        private_per_second=settings.outbox_private_per_second,
        group_per_minute=settings.outbox_group_per_minute,
    )
    limiter: Limiter | None = None
    if settings.redis_url:
        # Every instance of this bot draws on the same budgets, kept in Redis.
        bot_id = settings.bot_token.get_secret_value().split(":", 1)[0]
        limiter = RedisRateLimiter.from_url(settings.redis_url, limits, f"desk:rate:{bot_id}")
    reports = ReportBuilder(settings, sessionmaker, i18n, write_gate=write_gate)
    jobs = reports.jobs()
    if settings.mail_enabled:
        # E-mail answers are job rows too: sent by SMTP, never by the Telegram worker.
        jobs.update(MailSender(settings, sessionmaker, i18n, write_gate).jobs())
    return OutboxWorker(
        bot,
        sessionmaker,
        i18n,
        settings.engineer_language,
        limits,
        backoff_seconds=settings.send_backoff_seconds,
        write_gate=write_gate,
        jobs=jobs,
        metrics=metrics,
        limiter=limiter,
    )


@dataclass
class Running:
    """What run_bot started, so a stop undoes exactly that, in reverse order."""

    runner: web.AppRunner | None = None
    scheduler: AsyncIOScheduler | None = None
    delivery: asyncio.Task[None] | None = None
    jobs: FinishingJobs = field(default_factory=FinishingJobs)
    mail: asyncio.Task[None] | None = None
    mail_stop: asyncio.Event = field(default_factory=asyncio.Event)


# How long a thread waiting for the GIL lets the running one go on before asking for it
# (Python's default: 5 ms). SQLite's rows come through aiosqlite's thread, which gives up
# the GIL at every row and must take it back from the event loop. The loop itself gives it
# up and takes it straight back at each turn, and each such turn starts the waiting
# thread's 5 ms over, so under a busy loop (a storm, a burst) it could wait for seconds:
# `python -m bench.gil_handoff` measures one query's rows beside a busy loop. A wait
# shorter than a handler's stretch of Python between two awaits ends inside it.
SWITCH_INTERVAL_SECONDS = 0.0005


async def run_bot(settings: BotSettings) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    await upgrade_database_async(settings.database_url)
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    i18n = make_i18n()
    bot = make_bot(
        settings.bot_token.get_secret_value(),
        settings.telegram_api_url,
        attempts=settings.send_attempts,
        backoff_seconds=settings.send_backoff_seconds,
    )
    # The outbox retries on its own terms, so its sends go through a session without retries.
    sender = make_bot(settings.bot_token.get_secret_value(), settings.telegram_api_url, attempts=1)
    # SQLite has one writer at a time; taking turns in-process keeps waits short and fair.
    write_gate = WriteGate() if settings.database_url.startswith("sqlite") else None
    # Built here, not at import: each desk counts its own work.
    metrics = DeskMetrics()
    heartbeat = Heartbeat()
    worker = make_outbox_worker(sender, settings, sessionmaker, i18n, write_gate, metrics)
    storage = make_fsm_storage(settings)
    dispatcher = build_dispatcher(settings, sessionmaker, i18n, worker.kick, storage, metrics)
    stop_requested = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        log.info("stopping", signal=signum.name)
        stop_requested.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    running = Running()
    try:
        await register_commands(bot, settings, i18n)
        await check_wake_up(settings, sessionmaker, i18n, utc_now())
        # A restart within a minute does not spend the groups' minute twice.
        await worker.seed_limits({settings.support_chat_id, *settings.departments.values()})
        running.delivery = asyncio.create_task(worker.run())
        running.scheduler = make_scheduler(
            settings, sessionmaker, i18n, worker.kick, metrics, running.jobs
        )
        running.scheduler.add_job(
            running.jobs.wrap(keep_alive_now),
            IntervalTrigger(seconds=ALIVE_STAMP_SECONDS),
            args=(sessionmaker,),
        )
        running.scheduler.start()
        if settings.mail_enabled:
            reader = MailReader(settings, sessionmaker, i18n, worker.kick, write_gate)
            running.mail = asyncio.create_task(reader.run(running.mail_stop))
        if settings.serves_http:
            app = make_web_app(
                settings,
                sessionmaker,
                i18n,
                worker.kick,
                dispatcher,
                bot,
                metrics=metrics,
                heartbeat=None if settings.webhook_url else heartbeat,
            )
            running.runner = await serve_http(app, settings)
        # What start-up built (aiogram's and pydantic's models, SQLAlchemy's mappers, the
        # desk's own objects) lives as long as the process: kept out of the collector's
        # walks, which otherwise went over it on every full collection of a burst's sends.
        gc.freeze()
        await take_updates(
            settings, dispatcher, bot, sessionmaker, worker, write_gate, stop_requested, heartbeat
        )
    finally:
        await stop_running(running, worker, settings)
        # A clean stop marks its own end, so a long gap after it is measured from here.
        await keep_alive(sessionmaker, utc_now())
        await storage.close()
        await worker.limiter.close()
        await bot.session.close()
        await sender.session.close()
        await engine.dispose()
        log.info("stopped")


async def keep_alive_now(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await keep_alive(sessionmaker, utc_now())


async def serve_http(app: web.Application, settings: BotSettings) -> web.AppRunner:
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("http_listening", host=settings.http_host, port=settings.http_port)
    return runner


async def take_updates(
    settings: BotSettings,
    dispatcher: Dispatcher,
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: OutboxWorker,
    write_gate: asyncio.Lock | None,
    stop_requested: asyncio.Event,
    heartbeat: Heartbeat | None = None,
) -> None:
    """From a webhook (the HTTP server does the work) or by long polling, until a stop."""
    if settings.webhook_url:
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value()
            if settings.webhook_secret
            else None,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        log.info("webhook_mode", url=settings.webhook_url)
        await stop_requested.wait()
        return
    await bot.delete_webhook(drop_pending_updates=False)
    await poll_in_batches(
        dispatcher,
        bot,
        sessionmaker,
        polling_timeout=settings.polling_timeout_seconds,
        stop_requested=stop_requested,
        on_commit=worker.kick,
        write_gate=write_gate,
        on_poll=heartbeat.beat if heartbeat is not None else lambda: None,
    )


async def stop_running(running: Running, worker: OutboxWorker, settings: BotSettings) -> None:
    if running.runner is not None:
        # Stops taking requests, then waits for those in flight: Telegram retries the rest.
        await running.runner.cleanup()
    if running.mail is not None:
        # A mail being recorded finishes its short transaction; the next poll is skipped.
        running.mail_stop.set()
        await running.mail
    if running.scheduler is not None:
        running.scheduler.shutdown(wait=False)
        await running.jobs.wait(settings.shutdown_grace_seconds)
    if running.delivery is not None:
        worker.stop()
        await running.delivery
        # What the last updates queued goes out now rather than at the next start.
        with contextlib.suppress(TimeoutError):
            await worker.drain(timeout=settings.shutdown_grace_seconds, patience=1.0)
        # A report still being built is handed back: the next start builds it at once.
        await worker.close()
