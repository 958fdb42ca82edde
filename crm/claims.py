"""Credit claims: a client asks for a month's service credit (A 5.13 / B 5.9)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.models import (
    Contact,
    CreditClaim,
    Service,
)


class ClaimService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def claim(self, contact: Contact, month: str) -> list[Service]:
        """Asks for the credit of every service of the contact's customer for that month."""
        if contact.customer_id is None:
            raise CrmError("not_linked")
        services = (
            await self.session.scalars(
                select(Service).where(Service.customer_id == contact.customer_id)
            )
        ).all()
        for service in services:
            exists = await self.session.scalar(
                select(CreditClaim.id).where(
                    CreditClaim.service_id == service.id, CreditClaim.month == month
                )
            )
            if exists is None:
                self.session.add(
                    CreditClaim(
                        service_id=service.id,
                        month=month,
                        contact_id=contact.id,
                        claimed_at=self.clock(),
                    )
                )
        await self.session.flush()
        return list(services)
