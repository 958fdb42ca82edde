"""Object-storage trials (terms B 3): requests, the trial service, the switch to paid.

The provider may grant a trial on the client's request and may refuse without a reason; it
lasts `SlaConfig.trial_days` calendar days from the service's first activation, only once,
only for a customer who never used object storage, free of charge; a trial the client does
not switch off becomes paid on its own (a `paid` service event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.models import Contact, Service, ServiceEvent, ServiceType, TrialRequest

PENDING, APPROVED, REFUSED = "pending", "approved", "refused"


def service_event(
    service: Service,
    kind: str,
    at: datetime,
    recorded_at: datetime,
    actor: str = "",
    **details: object,
) -> ServiceEvent:
    return ServiceEvent(
        service_id=service.id,
        kind=kind,
        at=at,
        recorded_at=recorded_at,
        actor=actor,
        details=dict(details),
    )


@dataclass(frozen=True)
class TrialDue:
    """A trial service whose reminder or switch to paid has come."""

    service: Service
    contacts: Sequence[Contact]


class TrialService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def refusal(self, customer_id: int) -> tuple[str, datetime | None] | None:
        """Why this customer cannot have a trial (B 3: once, never after object storage):
        ("had_trial" | "used_storage" | "pending", when), or None when it can."""
        earlier = await self.session.scalar(
            select(TrialRequest)
            .where(
                TrialRequest.customer_id == customer_id,
                or_(TrialRequest.status == APPROVED, TrialRequest.status == PENDING),
            )
            .order_by(TrialRequest.id)
            .limit(1)
        )
        if earlier is not None:
            if earlier.status == PENDING:
                return "trial_pending", earlier.requested_at
            service = (
                await self.session.get(Service, earlier.service_id) if earlier.service_id else None
            )
            return "had_trial", service.active_from if service else earlier.decided_at
        storage = await self.session.scalar(
            select(Service)
            .where(
                Service.customer_id == customer_id,
                Service.service_type == ServiceType.OBJECT_STORAGE,
            )
            .order_by(Service.active_from)
            .limit(1)
        )
        if storage is not None:
            code = "had_trial" if storage.trial_until is not None else "used_storage"
            return code, storage.active_from
        return None

    async def request(self, contact: Contact) -> TrialRequest:
        """A linked client's request; refused (CrmError) when B 3 rules it out."""
        if contact.customer_id is None:
            raise CrmError("not_linked")
        refused = await self.refusal(contact.customer_id)
        if refused is not None:
            code, since = refused
            raise CrmError(code, since=since)
        request = TrialRequest(
            customer_id=contact.customer_id,
            contact_id=contact.id,
            requested_at=self.clock(),
            status=PENDING,
            reason="",
        )
        self.session.add(request)
        await self.session.flush()
        return request

    async def decide(
        self, request_id: int, approve: bool, decided_by: str, reason: str = ""
    ) -> TrialRequest:
        """A manager's decision; a request decided already is refused (buttons act once)."""
        request = await self.session.get(TrialRequest, request_id)
        if request is None:
            raise CrmError("unknown_trial_request", request_id=request_id)
        if request.status != PENDING:
            raise CrmError("trial_decided", status=request.status, at=request.decided_at)
        request.status = APPROVED if approve else REFUSED
        request.decided_at = self.clock()
        request.decided_by = decided_by
        request.reason = reason
        await self.session.flush()
        return request

    async def list_requests(self) -> Sequence[TrialRequest]:
        return (
            await self.session.scalars(select(TrialRequest).order_by(TrialRequest.id.desc()))
        ).all()

    async def contacts_of(self, customer_id: int) -> Sequence[Contact]:
        return (
            await self.session.scalars(
                select(Contact).where(Contact.customer_id == customer_id).order_by(Contact.id)
            )
        ).all()

    async def check_can_start(self, customer_id: int) -> None:
        """Before a trial service is added: an approved or pending request of this customer
        is honoured; otherwise B 3's rules (once, never after object storage) decide."""
        if await self._open_request(customer_id) is not None:
            return
        refused = await self.refusal(customer_id)
        if refused is not None:
            code, since = refused
            raise CrmError(code, since=since)

    async def start_trial(self, service: Service, days: int, actor: str) -> None:
        """The trial service was just added: its trial runs `days` calendar days from its
        activation; the customer's open request (or a new one, approved) is tied to it."""
        now = self.clock()
        request = await self._open_request(service.customer_id)
        if request is None:
            request = TrialRequest(customer_id=service.customer_id, requested_at=now, reason="")
            self.session.add(request)
        if request.status != APPROVED:
            request.status, request.decided_at, request.decided_by = APPROVED, now, actor
        request.service_id = service.id
        service.trial_until = service.active_from + timedelta(days=days)
        self.session.add(service_event(service, "trial_started", service.active_from, now, actor))
        await self.session.flush()

    async def _open_request(self, customer_id: int) -> TrialRequest | None:
        """An approved request still waiting for its service, else a pending one."""
        return await self.session.scalar(
            select(TrialRequest)
            .where(
                TrialRequest.customer_id == customer_id,
                TrialRequest.service_id.is_(None),
                or_(TrialRequest.status == APPROVED, TrialRequest.status == PENDING),
            )
            .order_by(case((TrialRequest.status == APPROVED, 0), else_=1), TrialRequest.id)
            .limit(1)
        )

    async def due(self, kind: str, before: timedelta = timedelta()) -> list[TrialDue]:
        """Trial services whose `kind` ("trial_reminded" or "paid") has come by now +
        `before` and is not recorded yet; a service switched off before its trial's end
        is never reminded nor paid."""
        now = self.clock()
        done = select(ServiceEvent.service_id).where(ServiceEvent.kind == kind)
        services = (
            await self.session.scalars(
                select(Service)
                .where(
                    Service.trial_until.is_not(None),
                    Service.trial_until <= now + before,
                    or_(Service.active_to.is_(None), Service.active_to > Service.trial_until),
                    Service.id.not_in(done),
                )
                .order_by(Service.id)
            )
        ).all()
        return [TrialDue(s, await self.contacts_of(s.customer_id)) for s in services]

    async def record(self, service: Service, kind: str, at: datetime) -> None:
        self.session.add(service_event(service, kind, at, self.clock(), "scheduler"))
        await self.session.flush()
