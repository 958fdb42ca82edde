"""Live SLA clocks: warnings, breach alerts and escalations, queued from a periodic scan.

Due times live in the database (tickets, incidents), so a scan after a restart finds the
alerts that fell due while the bot was down and sends them, marked late, exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from aiogram.utils.i18n import I18n
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk, category_label, topic_link
from bot.metrics import DeskMetrics
from bot.middlewares import ticket_service
from bot.notices.engineers import with_mentions
from bot.settings import BotSettings
from bot.texts import duration
from crm.alerts import BREACH, ESCALATION, WARNING, RaisedAlert, SlaClockScanner
from crm.models import Purpose, Ticket
from crm.outbox import Outbox

log = structlog.get_logger()


def _span(delta: timedelta, desk: Desk) -> str:
    """A span in the engineers' language, in seconds when under a minute."""
    with desk.i18n.context(), desk.i18n.use_locale(desk.settings.engineer_language):
        return duration(max(delta, timedelta(0)))


def alert_text(alert: RaisedAlert, desk: Desk, now: datetime) -> str:
    t = desk.engineer_text
    number = alert.ticket.id if alert.ticket else None
    subject = {
        "response": t("first response"),
        "processing": t("processing"),
        "restoration": t("restoration"),
    }[alert.subject]
    values = {
        "number": number if number is not None else "—",
        "subject": subject,
        "due": desk.local(alert.deadline),
        "left": _span(alert.deadline - now, desk),
        "over": _span(now - alert.deadline, desk),
    }
    if alert.kind == WARNING:
        text = t("⏳ #{number}: {left} left for the {subject} target (due {due}).")
    elif alert.kind == BREACH:
        text = t("🔴 #{number}: the {subject} target is missed (due {due}).")
    else:
        text = t("🚨 #{number}: the {subject} target was missed {over} ago (due {due}).")
    if alert.incident is not None:
        # An outage's clock names the outage, not a ticket (it may have none, or many).
        outage = t("Outage #{incident}").format(incident=alert.incident.id)
        text = text.replace("#{number}", outage)
    text = text.format(**values)
    if alert.ticket is not None and alert.ticket.emergency:
        text = "🚨 " + t("emergency") + " · " + text
    if alert.late:
        text += " " + t("(late: the bot was not running when this fell due)")
    return text


def escalation_text(text: str, ticket: Ticket | None, desk: Desk) -> str:
    """The managers' escalation: whose ticket, who has it, and where to look."""
    if ticket is None:
        return text
    t = desk.engineer_text
    customer = ticket.customer.name if ticket.customer else t("unknown customer")
    assignee = ticket.assignee_name or t("nobody took it")
    lines = [
        text,
        t("Customer: {customer}; assignee: {assignee}.").format(
            customer=customer, assignee=assignee
        ),
    ]
    link = topic_link(ticket)
    if link is not None:
        lines.append(link)
    return "\n".join(lines)


async def queue_alerts(
    session: AsyncSession,
    settings: BotSettings,
    i18n: I18n,
    now: datetime,
    metrics: DeskMetrics | None = None,
) -> int:
    scanner = SlaClockScanner(
        session,
        settings.sla_config(),
        warn_when_left=settings.warn_when_left_share,
        late_after=timedelta(seconds=2 * settings.timer_scan_seconds + 5),
    )
    alerts = await scanner.scan(now)
    if metrics is not None:
        metrics.clocks_running.set(scanner.clocks_seen)
        for alert in alerts:
            # Counted when raised, before the commit: a scan that loses the race to another
            # instance counts alerts that instance then sends (rare, and on the high side).
            metrics.alerts_raised.labels(kind=alert.kind).inc()
    if not alerts:
        return 0
    desk = Desk(settings, ticket_service(session, settings), Outbox(session), i18n)
    on_duty = desk.engineer_text("engineer on duty")
    for alert in alerts:
        text = alert_text(alert, desk, now)
        ticket = alert.ticket
        if alert.incident is not None:
            # An outage's clock is the room's business; the first reporting ticket's topic
            # is where managers' escalations point.
            desk.post_to_room(alert.incident, text)
            if alert.incident.ticket_id:
                ticket = await session.get(Ticket, alert.incident.ticket_id)
        elif ticket is not None:
            desk.post_to_topic(ticket, text)
        if alert.kind == BREACH or ticket is None:
            # The general topic is where the engineers on duty look first.
            # The link takes the engineer on duty straight to the ticket's topic.
            link = topic_link(ticket) if ticket is not None else None
            general, entities = with_mentions(
                " ".join(part for part in (text, link) if part), settings.duty_engineers, on_duty
            )
            desk.outbox.send_message(
                settings.support_chat_id, general, purpose=Purpose.ALERT, entities=entities or None
            )
        if alert.kind == ESCALATION:
            for manager_id in sorted(settings.manager_ids):
                desk.send_to(manager_id, escalation_text(text, ticket, desk), purpose=Purpose.ALERT)
        log.info(
            "sla_alert",
            subject=alert.subject,
            kind=alert.kind,
            late=alert.late,
            ticket=ticket.id if ticket else None,
        )
    return len(alerts)


async def scan_clocks(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    on_queued: Callable[[], None],
    metrics: DeskMetrics | None = None,
) -> None:
    try:
        async with sessionmaker() as session:
            count = await queue_alerts(session, settings, i18n, datetime.now(UTC), metrics)
            await session.commit()
    except IntegrityError:
        # Another instance raised the same alert first (unique per subject and kind).
        log.info("sla_alerts_raised_elsewhere")
        return
    except asyncio.CancelledError:
        # The scheduler cancels a running scan at shutdown: nothing was committed and the
        # next start scans again, so this ends quietly instead of logging a traceback.
        log.info("sla_scan_cancelled")
        return
    if count:
        on_queued()


def board_text(tickets: list[Ticket], desk: Desk, now: datetime) -> str:
    """`/board`: open tickets by time left, with who took them."""
    t = desk.engineer_text
    if not tickets:
        return t("No open tickets.")
    lines = [t("Open tickets: {count}").format(count=len(tickets))]
    for ticket in tickets:
        customer = ticket.customer.name if ticket.customer else t("unknown customer")
        label = category_label(desk.i18n, ticket.category, desk.settings.engineer_language)
        if ticket.first_response_at is not None:
            clock = t("answered")
        elif ticket.response_due_at is None:
            clock = t("no target")
        elif ticket.response_due_at >= now:
            clock = t("⏰ {left} left").format(left=_span(ticket.response_due_at - now, desk))
        else:
            clock = t("🔴 {over} overdue").format(over=_span(now - ticket.response_due_at, desk))
        owner = (
            t("taken by {name}").format(name=ticket.assignee_name)
            if ticket.assignee_name
            else t("unassigned")
        )
        emergency = "🚨 " if ticket.emergency else ""
        line = f"{emergency}#{ticket.id} · {customer} · {label} · {clock} · {owner}"
        link = topic_link(ticket)
        lines.append(f"{line} · {link}" if link else line)
    return "\n".join(lines)
