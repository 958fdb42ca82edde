"""Planned maintenance windows (terms A 5.10 / B 5.6): downtime inside them is not counted."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.models import (
    Contact,
    MaintenanceWindow,
    Service,
)


class MaintenanceService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def add(
        self,
        service_id: int | None,
        starts_at: datetime,
        ends_at: datetime,
        description: str,
        manager_id: int,
    ) -> MaintenanceWindow:
        if ends_at <= starts_at:
            raise CrmError("maintenance_ends_before_start")
        if service_id is not None and await self.session.get(Service, service_id) is None:
            raise CrmError("unknown_service", service_id=service_id)
        window = MaintenanceWindow(
            service_id=service_id,
            starts_at=starts_at,
            ends_at=ends_at,
            description=description,
            created_by=manager_id,
            created_at=self.clock(),
        )
        self.session.add(window)
        await self.session.flush()
        return window

    async def upcoming(self, now: datetime) -> Sequence[MaintenanceWindow]:
        return (
            await self.session.scalars(
                select(MaintenanceWindow)
                .where(MaintenanceWindow.ends_at > now, MaintenanceWindow.cancelled_at.is_(None))
                .order_by(MaintenanceWindow.starts_at)
            )
        ).all()

    async def upcoming_with_services(
        self, now: datetime
    ) -> Sequence[tuple[MaintenanceWindow, Service | None]]:
        """`upcoming` with each window's service (its customer joined), None for every one."""
        query = (
            select(MaintenanceWindow, Service)
            .outerjoin(Service, Service.id == MaintenanceWindow.service_id)
            .where(MaintenanceWindow.ends_at > now, MaintenanceWindow.cancelled_at.is_(None))
            .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        )
        return [(window, service) for window, service in (await self.session.execute(query))]

    async def service(self, service_id: int | None) -> Service | None:
        return None if service_id is None else await self.session.get(Service, service_id)

    async def cancel(self, window_id: int) -> tuple[MaintenanceWindow, bool]:
        """The window, and whether this call cancelled it (False: it was already)."""
        window = await self.session.get(MaintenanceWindow, window_id)
        if window is None:
            raise CrmError("unknown_maintenance", window_id=window_id)
        if window.cancelled_at is not None:
            return window, False
        window.cancelled_at = self.clock()
        await self.session.flush()
        return window, True

    async def affected_contacts(self, service_id: int | None) -> Sequence[Contact]:
        """Linked contacts of the customers whose service the window touches."""
        query = select(Contact).where(Contact.customer_id.is_not(None))
        if service_id is not None:
            query = query.join(Service, Service.customer_id == Contact.customer_id).where(
                Service.id == service_id
            )
        return (await self.session.scalars(query.order_by(Contact.id))).unique().all()
