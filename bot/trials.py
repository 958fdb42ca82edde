"""The trial timers (terms B 3), scanned like the SLA clocks: 24 hours before a trial ends
the client is reminded, in their language, that the service becomes paid unless switched
off; at its end the switch to paid is recorded (a `paid` service event) and told.

Each step is an event recorded once per service, in the same transaction as the messages
it queues in the outbox, so a scan after a restart catches up and nothing is said twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import pick_locale
from bot.settings import BotSettings
from crm.models import Contact, Purpose
from crm.outbox import Outbox
from crm.trials import TrialDue, TrialService

log = structlog.get_logger()


def _local(moment: datetime, settings: BotSettings) -> str:
    return moment.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")


def _each_contact(
    due: TrialDue, outbox: Outbox, i18n: I18n, words: Callable[[Contact], str]
) -> None:
    for contact in due.contacts:
        locale = pick_locale(contact.chosen_language, contact.telegram_language)
        with i18n.context(), i18n.use_locale(locale):
            outbox.send_message(contact.telegram_user_id, words(contact), purpose=Purpose.NOTICE)


async def queue_trial_notices(
    session: AsyncSession, settings: BotSettings, i18n: I18n, now: datetime
) -> int:
    """Reminders and switches to paid that have come by `now`; how many were queued."""
    trials = TrialService(session, clock=lambda: now)
    outbox = Outbox(session)
    _ = i18n.gettext
    count = 0
    before = settings.sla_config().trial_reminder_before
    for due in await trials.due("trial_reminded", before):
        service = due.service
        assert service.trial_until is not None
        if service.trial_until > now:

            def reminder(contact: Contact, service=service) -> str:
                return _(
                    "Your free object storage trial of «{service}» ends on {end} ({zone}). "
                    "Unless you switch the service off before then, it becomes paid: "
                    "{fee} {currency} a month (terms B 3)."
                ).format(
                    service=service.name,
                    end=_local(service.trial_until, settings),
                    zone=settings.timezone,
                    fee=f"{service.monthly_fee:.2f}",
                    currency=service.currency,
                )

            _each_contact(due, outbox, i18n, reminder)
            count += len(due.contacts)
        # Recorded even when the trial is already over (the bot was down): never late.
        await trials.record(service, "trial_reminded", now)
    for due in await trials.due("paid"):
        service = due.service
        assert service.trial_until is not None

        def paid(contact: Contact, service=service) -> str:
            return _(
                "Your free trial of «{service}» has ended: it is a paid service from {start} "
                "({zone})."
            ).format(
                service=service.name,
                start=_local(service.trial_until, settings),
                zone=settings.timezone,
            )

        _each_contact(due, outbox, i18n, paid)
        count += len(due.contacts)
        await trials.record(service, "paid", service.trial_until)
        log.info("trial_paid", service=service.id)
    return count


async def scan_trials(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_queued: Callable[[], None],
) -> None:
    try:
        async with sessionmaker() as session:
            count = await queue_trial_notices(session, settings, i18n, datetime.now(UTC))
            await session.commit()
    except asyncio.CancelledError:
        log.info("trial_scan_cancelled")
        return
    if count:
        on_queued()
