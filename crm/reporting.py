"""Reads one month of evidence from the database into the pure SLA engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import CrmError
from crm.models import (
    CreditClaim,
    Customer,
    Incident,
    Service,
    Ticket,
)
from crm.models import MaintenanceWindow as MaintenanceRow
from sla import (
    IncidentRecord,
    MaintenanceWindow,
    MonthlyReport,
    ServiceRecord,
    SlaConfig,
    TicketRecord,
    build_monthly_report,
    month_bounds,
)


@dataclass(frozen=True)
class MonthEvidence:
    services: list[ServiceRecord]
    incidents: list[IncidentRecord]
    maintenance: list[MaintenanceWindow]
    tickets: list[TicketRecord]
    claims: list[tuple[int, str]]


# Incident columns, in the order of IncidentRecord's fields they fill.
INCIDENT_FIELDS = (
    "id", "service_id", "ticket_id", "client_notice_at", "monitoring_start_at",
    "monitoring_end_at", "status", "confirmed_at", "layer", "restored_at", "exclusion",
    "restoration_type", "data_loss",
)  # fmt: skip
INCIDENT_RECORD_FIELDS = (
    "incident_id",
    "service_id",
    "ticket_number",
    *INCIDENT_FIELDS[3:],
)


async def load_month(
    session: AsyncSession, month: str, config: SlaConfig, customer_id: int | None = None
) -> MonthEvidence:
    period = month_bounds(month, config.zone)
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise CrmError("unknown_customer", customer_id=customer_id)

    active_in_month = [
        Service.active_from < period.end,
        or_(Service.active_to.is_(None), Service.active_to > period.start),
    ]
    if customer_id is not None:
        active_in_month.append(Service.customer_id == customer_id)
    # Sub-selects rather than id lists: SQLite caps bound parameters, a month has 100k services.
    service_ids = select(Service.id).where(*active_in_month)
    services = [
        ServiceRecord(
            service_id=row.id,
            customer_id=row.customer_id,
            customer_name=row.customer_name,
            service_type=row.service_type,
            monthly_fee=row.monthly_fee,
            currency=row.currency,
            active_from=row.active_from,
            active_to=row.active_to,
            in_provider_dc=row.in_provider_dc,
        )
        for row in await session.execute(
            select(
                Service.id,
                Service.customer_id,
                Customer.name.label("customer_name"),
                Service.service_type,
                Service.monthly_fee,
                Service.currency,
                Service.active_from,
                Service.active_to,
                Service.in_provider_dc,
            )
            .join(Customer, Customer.id == Service.customer_id)
            .where(*active_in_month)
            .order_by(Service.id)
        )
    ]

    # An incident belongs to the month when its evidence could overlap it; the engine clips.
    incident_columns = [getattr(Incident, name) for name in INCIDENT_FIELDS]
    incidents = [
        IncidentRecord(**dict(zip(INCIDENT_RECORD_FIELDS, row, strict=True)))
        for row in await session.execute(
            select(*incident_columns)
            .where(
                Incident.service_id.in_(service_ids),
                or_(
                    Incident.client_notice_at < period.end,
                    Incident.monitoring_start_at < period.end,
                    Incident.confirmed_at < period.end,
                ),
                or_(
                    and_(Incident.restored_at.is_(None), Incident.monitoring_end_at.is_(None)),
                    Incident.restored_at >= period.start,
                    Incident.monitoring_end_at >= period.start,
                    Incident.confirmed_at >= period.start,
                ),
            )
            .order_by(Incident.id)
        )
    ]
    windows = (
        await session.scalars(
            select(MaintenanceRow).where(
                MaintenanceRow.starts_at < period.end,
                MaintenanceRow.ends_at > period.start,
                or_(
                    MaintenanceRow.service_id.is_(None), MaintenanceRow.service_id.in_(service_ids)
                ),
            )
        )
    ).all()
    # Plain rows, not ORM objects: a month may hold a million tickets.
    ticket_query = (
        select(
            Ticket.id,
            Ticket.channel,
            Service.service_type,
            Ticket.category,
            Ticket.opened_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.emergency,
        )
        .outerjoin(Service, Service.id == Ticket.service_id)
        .where(Ticket.opened_at >= period.start, Ticket.opened_at < period.end)
    )
    if customer_id is not None:
        ticket_query = ticket_query.where(Ticket.customer_id == customer_id)
    tickets = [
        TicketRecord(
            number=number,
            channel=channel,
            service_type=service_type,
            category=category.value if category else "",
            opened_at=opened_at,
            first_response_at=first_response_at,
            resolved_at=resolved_at,
            emergency=emergency,
        )
        for (
            number,
            channel,
            service_type,
            category,
            opened_at,
            first_response_at,
            resolved_at,
            emergency,
        ) in await session.execute(ticket_query.order_by(Ticket.id))
    ]
    claims = (
        await session.execute(
            select(CreditClaim.service_id, CreditClaim.month).where(
                CreditClaim.month == month, CreditClaim.service_id.in_(service_ids)
            )
        )
    ).all()
    return MonthEvidence(
        services=services,
        incidents=incidents,
        maintenance=[
            MaintenanceWindow(w.service_id, w.starts_at, w.ends_at, w.cancelled_at is not None)
            for w in windows
        ],
        tickets=tickets,
        claims=[(service_id, claim_month) for service_id, claim_month in claims],
    )


async def monthly_report(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
) -> tuple[MonthlyReport, MonthEvidence]:
    evidence = await load_month(session, month, config, customer_id)
    report = build_monthly_report(
        month,
        evidence.services,
        evidence.incidents,
        evidence.maintenance,
        evidence.tickets,
        evidence.claims,
        config,
        now,
    )
    return report, evidence
