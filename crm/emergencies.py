"""Declared emergencies: tickets opened during one get the emergency target (A 5.2)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.models import (
    Emergency,
)


class EmergencyService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def active(self) -> Emergency | None:
        return await self.session.scalar(
            select(Emergency).where(Emergency.ended_at.is_(None)).order_by(Emergency.id.desc())
        )

    async def declare(self, note: str | None, manager_id: int, when: datetime) -> Emergency:
        current = await self.active()
        if current is not None:
            return current
        emergency = Emergency(started_at=when, note=note, started_by=manager_id)
        self.session.add(emergency)
        await self.session.flush()
        return emergency

    async def end(self, manager_id: int, when: datetime) -> Emergency | None:
        current = await self.active()
        if current is None:
            return None
        current.ended_at = when
        current.ended_by = manager_id
        await self.session.flush()
        return current
