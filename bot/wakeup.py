"""Waking up after a long stop: Telegram keeps undelivered updates for a day only.

A desk that was down for more than LOST_UPDATES_RISK may have lost client messages for
good, and nobody would know: so it says so, in the log at error level and to every manager
through the outbox, naming the span from the last moment it was known alive to now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import structlog
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk
from bot.i18n import pick_locale
from bot.middlewares import ticket_service
from bot.settings import BotSettings
from crm.contacts import ContactService
from crm.models import Purpose
from crm.outbox import Outbox
from crm.watch import claim_wake_up, last_alive, stamp_alive

log = structlog.get_logger()

# Telegram drops an update a day after it was sent; a few hours' margin covers the stamp
# interval, clock skew and the time the backlog takes to be fetched.
LOST_UPDATES_RISK = timedelta(hours=20)
# How often a running desk moves "last known alive" forward.
ALIVE_STAMP_SECONDS = 60


async def manager_locale(contacts: ContactService, manager_id: int, fallback: str) -> str:
    """A manager reads their own language when the desk knows it (as for their commands)."""
    contact = await contacts.find(manager_id)
    if contact is None:
        return fallback
    return pick_locale(contact.chosen_language, contact.telegram_language, fallback)


async def warn_managers(
    session: AsyncSession, settings: BotSettings, i18n: I18n, since: datetime, until: datetime
) -> None:
    desk = Desk(settings, ticket_service(session, settings), Outbox(session), i18n)
    contacts = ContactService(session)
    for manager_id in sorted(settings.manager_ids):
        locale = await manager_locale(contacts, manager_id, settings.engineer_language)
        t = partial(i18n.gettext, locale=locale)
        text = t(
            "⚠️ The desk was not running from {since} to {until} ({timezone}). Telegram keeps "
            "messages for the bot for a day only: what clients wrote in this time may be lost. "
            "Ask the engineers to check with the clients who usually write then."
        ).format(since=desk.local(since), until=desk.local(until), timezone=settings.timezone)
        desk.send_to(manager_id, text, purpose=Purpose.ALERT)


async def check_wake_up(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    now: datetime,
    on_queued: Callable[[], None] = lambda: None,
) -> bool:
    """At start: announces a gap longer than LOST_UPDATES_RISK once (whatever the number of
    instances starting), then stamps the desk alive. True when it announced one."""
    async with sessionmaker() as session:
        previous = await last_alive(session)
        if previous is None or now - previous <= LOST_UPDATES_RISK:
            await stamp_alive(session, now)
            await session.commit()
            return False
        if not await claim_wake_up(session, previous, now):
            await session.commit()
            return False  # Another instance announced this gap first.
        log.error(
            "updates_may_be_lost",
            since=previous.isoformat(),
            until=now.isoformat(),
            hours_down=round((now - previous) / timedelta(hours=1), 1),
        )
        await warn_managers(session, settings, i18n, previous, now)
        await session.commit()
    on_queued()
    return True


async def keep_alive(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> None:
    try:
        async with sessionmaker() as session:
            await stamp_alive(session, now)
            await session.commit()
    except Exception as error:
        # A missed stamp only makes a later gap look longer; it must not stop the desk.
        log.warning("alive_stamp_failed", error=repr(error))
