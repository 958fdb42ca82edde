"""Customers, their services and the invitations that link Telegram accounts to them."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.models import (
    Customer,
    Invitation,
    Service,
    ServiceType,
)
from crm.repositories import ContactRepository, CustomerRepository
from crm.trials import TrialService, service_event


class CustomerService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock
        self.customers = CustomerRepository(session)
        self.contacts = ContactRepository(session)

    async def add_customer(self, name: str) -> Customer:
        name = name.strip()
        if not name:
            raise CrmError("empty_name")
        customer = Customer(name=name, created_at=self.clock())
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def add_service(
        self,
        customer_id: int,
        service_type: ServiceType,
        monthly_fee: Decimal,
        *,
        currency: str = "KZT",
        name: str | None = None,
        active_from: datetime | None = None,
        in_provider_dc: bool = True,
        trial_days: int | None = None,
        actor: str = "cli",
    ) -> Service:
        """`active_from` None: now. `trial_days`: an object-storage trial (terms B 3) of
        that many calendar days from `active_from`, refused when B 3 rules it out."""
        customer = await self.customers.get(customer_id)
        if customer is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        if monthly_fee < 0:
            raise CrmError("negative_fee")
        if service_type is ServiceType.OBJECT_STORAGE and not in_provider_dc:
            # Terms B [1]: object storage lives only at the provider's site.
            raise CrmError("object_storage_outside_dc")
        trials = TrialService(self.session, self.clock)
        if trial_days is not None:
            if service_type is not ServiceType.OBJECT_STORAGE:
                raise CrmError("trial_not_storage")  # B 3 is object storage's clause
            if trial_days < 1:
                raise CrmError("trial_days")
            await trials.check_can_start(customer_id)
        now = self.clock()
        service = Service(
            customer_id=customer_id,
            service_type=service_type,
            name=name or service_type.value.replace("_", " "),
            monthly_fee=monthly_fee,
            currency=currency.upper(),
            active_from=active_from or now,
            in_provider_dc=in_provider_dc,
            created_at=now,
        )
        self.session.add(service)
        await self.session.flush()
        self.session.add(service_event(service, "added", service.active_from, now, actor))
        if trial_days is not None:
            await trials.start_trial(service, trial_days, actor)
        await self.session.flush()
        return service

    async def end_service(
        self, service_id: int, at: datetime | None, actor: str = "cli"
    ) -> Service:
        """The service is switched off at `at` (default now): the report clips to it."""
        service = await self.customers.service(service_id)
        if service is None:
            raise CrmError("unknown_service", service_id=service_id)
        now = self.clock()
        end = at or now
        if service.active_to is not None:
            raise CrmError("service_ended", service_id=service_id, at=service.active_to)
        if end < service.active_from:
            raise CrmError("end_before_start", service_id=service_id, at=service.active_from)
        service.active_to = end
        self.session.add(service_event(service, "ended", end, now, actor))
        await self.session.flush()
        return service

    async def list_customers(self) -> Sequence[Customer]:
        return await self.customers.list()

    async def list_services(self, customer_id: int | None = None) -> Sequence[Service]:
        if customer_id is not None and await self.customers.get(customer_id) is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        return await self.customers.services(customer_id)

    async def create_invitation(self, customer_id: int) -> Invitation:
        if await self.customers.get(customer_id) is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        invitation = Invitation(
            customer_id=customer_id, token=secrets.token_urlsafe(16), created_at=self.clock()
        )
        self.session.add(invitation)
        await self.session.flush()
        return invitation

    async def revoke_invitation(self, token: str) -> Invitation:
        invitation = await self.customers.invitation(token)
        if invitation is None:
            raise CrmError("unknown_invitation")
        if invitation.revoked_at is None:
            invitation.revoked_at = self.clock()
            await self.session.flush()
        return invitation
