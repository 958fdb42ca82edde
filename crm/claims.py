"""Credit claims: a client asks for a month's service credit (A 5.13 / B 5.9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.models import (
    Contact,
    CreditClaim,
    Incident,
    IncidentStatus,
    Service,
)
from sla import month_bounds


@dataclass(frozen=True)
class ClaimResult:
    """`claimed`: the services claimed now; `earlier`: when the month was claimed before
    (its first claim), None when nothing of it was."""

    claimed: list[Service]
    services: list[Service]
    earlier: datetime | None


class ClaimService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def claim(
        self, contact: Contact, month: str, zone: ZoneInfo, at: datetime | None = None
    ) -> ClaimResult:
        """Asks for the credit of every service of the contact's customer that was active
        in that month; a service claimed for it already is left as it was. `at`: the
        client's own message time (default: the clock)."""
        if contact.customer_id is None:
            raise CrmError("not_linked")
        period = month_bounds(month, zone)
        services = list(
            (
                await self.session.scalars(
                    select(Service)
                    .where(
                        Service.customer_id == contact.customer_id,
                        Service.active_from < period.end,
                        or_(Service.active_to.is_(None), Service.active_to > period.start),
                    )
                    .order_by(Service.id)
                )
            ).all()
        )
        earlier = await self.session.scalar(
            select(func.min(CreditClaim.claimed_at)).where(
                CreditClaim.month == month,
                CreditClaim.service_id.in_([service.id for service in services]),
            )
        )
        claimed_ids = set(
            (
                await self.session.scalars(
                    select(CreditClaim.service_id).where(
                        CreditClaim.month == month,
                        CreditClaim.service_id.in_([service.id for service in services]),
                    )
                )
            ).all()
        )
        claimed = [service for service in services if service.id not in claimed_ids]
        for service in claimed:
            self.session.add(
                CreditClaim(
                    service_id=service.id,
                    month=month,
                    contact_id=contact.id,
                    claimed_at=at or self.clock(),
                )
            )
        await self.session.flush()
        return ClaimResult(claimed, services, earlier)

    async def months_with_outages(
        self, customer_id: int, zone: ZoneInfo, limit: int = 6
    ) -> list[str]:
        """The months (in the provider's zone, newest first) in which an outage of one of
        the customer's services began: the months a credit can be due for."""
        starts = (
            await self.session.execute(
                select(Incident.client_notice_at, Incident.monitoring_start_at)
                .join(Service, Service.id == Incident.service_id)
                .where(
                    Service.customer_id == customer_id,
                    Incident.status != IncidentStatus.REJECTED,
                )
            )
        ).all()
        months = set()
        for notice, monitoring in starts:
            known = [moment for moment in (notice, monitoring) if moment is not None]
            if known:
                months.add(f"{min(known).astimezone(zone):%Y-%m}")
        return sorted(months, reverse=True)[:limit]
