"""Telegram update ids already handled, so a redelivered update does nothing."""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.models import (
    ProcessedUpdate,
)
from crm.repositories import TicketRepository


class UpdateLog:
    """Remembers handled Telegram update ids so a redelivered update does nothing."""

    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def seen(self, update_id: int) -> bool:
        return await TicketRepository(self.session).update_seen(update_id)

    async def seen_among(self, update_ids: Collection[int]) -> frozenset[int]:
        """Which of these update ids were handled before: one query for a polled batch."""
        if not update_ids:
            return frozenset()
        found = await self.session.scalars(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id.in_(update_ids))
        )
        return frozenset(found)

    async def remember(self, update_id: int) -> None:
        """Flushed with the update's savepoint: a concurrent duplicate fails there."""
        self.session.add(ProcessedUpdate(update_id=update_id, processed_at=self.clock()))

    async def remember_all(self, update_ids: Collection[int]) -> None:
        """Many at once (a polled batch's client messages): one executemany, written now,
        so a concurrent duplicate fails here, inside the caller's SAVEPOINT."""
        if not update_ids:
            return
        await self.session.execute(
            insert(cast(Table, ProcessedUpdate.__table__)),
            [{"update_id": update_id, "processed_at": self.clock()} for update_id in update_ids],
        )
