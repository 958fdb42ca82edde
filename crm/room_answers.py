"""What engineers said in an outage's room to everyone who reported it (one row each)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.dto import IncomingMessage
from crm.models import Incident, RoomAnswer


class RoomAnswers:
    """Returns plain rows and never commits: the update's unit of work does."""

    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def seen(self, incoming: IncomingMessage) -> bool:
        """True for a redelivered update: its copies were queued the first time."""
        found = await self.session.scalar(
            select(RoomAnswer.id).where(
                RoomAnswer.chat_id == incoming.chat_id,
                RoomAnswer.telegram_message_id == incoming.message_id,
            )
        )
        return found is not None

    async def record(self, incident: Incident, incoming: IncomingMessage, clients: int) -> None:
        self.session.add(
            RoomAnswer(
                incident_id=incident.id,
                chat_id=incoming.chat_id,
                telegram_message_id=incoming.message_id,
                sender_telegram_id=incoming.sender.id,
                telegram_date=incoming.telegram_date,
                received_at=self.clock(),
                clients=clients,
            )
        )
        await self.session.flush()
