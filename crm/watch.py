"""What an operator watches: the outbox backlog, open outages, and when the desk was alive.

"Last known alive" is one `job_runs` row (job `desk_alive`) whose `done_at` every running
instance moves forward about once a minute: it survives restarts, is shared by every
instance on one database, and needs no table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import UtcDateTime
from crm.models import Incident, JobRun, OutboxMessage, OutboxStatus, Purpose
from sla.model import IncidentStatus

ALIVE_JOB = "desk_alive"
ALIVE_PERIOD = "-"


@dataclass(frozen=True)
class PendingKind:
    purpose: Purpose
    count: int
    # The oldest row of this kind that could go now (None: every one waits for a 429).
    oldest_sendable: datetime | None


async def database_answers(session: AsyncSession) -> None:
    """Raises if the database cannot run a trivial query."""
    await session.execute(text("SELECT 1"))


async def pending_outbox(session: AsyncSession, now: datetime) -> list[PendingKind]:
    """Pending rows by purpose, in one GROUP BY.

    A row waiting out Telegram's own retry_after (`not_before` ahead) is pending but not
    late: Telegram asked for the wait. Every other pending row counts from its creation,
    rows waiting behind another one of their chat or for their ticket's topic included,
    since a chat that does not move is exactly what an operator must hear about.
    """
    sendable = or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)
    oldest = func.min(case((sendable, OutboxMessage.created_at)), type_=UtcDateTime())
    result = await session.execute(
        select(OutboxMessage.purpose, func.count(), oldest)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .group_by(OutboxMessage.purpose)
    )
    return [PendingKind(Purpose(purpose), int(count), first) for purpose, count, first in result]


async def open_incidents(session: AsyncSession) -> int:
    """Outages reported or confirmed and not restored yet."""
    count = await session.scalar(
        select(func.count())
        .select_from(Incident)
        .where(Incident.status != IncidentStatus.REJECTED, Incident.restored_at.is_(None))
    )
    return int(count or 0)


async def last_alive(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(JobRun.done_at).where(JobRun.job == ALIVE_JOB, JobRun.period == ALIVE_PERIOD)
    )


async def stamp_alive(session: AsyncSession, now: datetime) -> None:
    """Moves "last known alive" forward (never back: instances' clocks differ a little)."""
    moved = await session.execute(
        update(JobRun)
        .where(JobRun.job == ALIVE_JOB, JobRun.period == ALIVE_PERIOD, JobRun.done_at < now)
        .values(done_at=now)
    )
    if getattr(moved, "rowcount", 0) or await last_alive(session) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(JobRun(job=ALIVE_JOB, period=ALIVE_PERIOD, done_at=now))
    except IntegrityError:
        pass  # Another instance wrote the first stamp at the same moment.


async def claim_wake_up(session: AsyncSession, previous: datetime, now: datetime) -> bool:
    """Moves the stamp from `previous` to `now`; True for the one instance that did it, so
    a gap is announced once however many instances start after it."""
    moved = await session.execute(
        update(JobRun)
        .where(
            and_(
                JobRun.job == ALIVE_JOB,
                JobRun.period == ALIVE_PERIOD,
                JobRun.done_at == previous,
            )
        )
        .values(done_at=now)
    )
    return bool(getattr(moved, "rowcount", 0))
