"""Reads one month of evidence from the database into the pure SLA engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    CreditClaim,
    Customer,
    Incident,
    Service,
    Ticket,
)
from crm.models import MaintenanceWindow as MaintenanceRow
from crm.services import CrmError
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


def service_record(service: Service) -> ServiceRecord:
    return ServiceRecord(
        service_id=service.id,
        customer_id=service.customer_id,
        customer_name=service.customer.name,
        service_type=service.service_type,
        monthly_fee=service.monthly_fee,
        currency=service.currency,
        active_from=service.active_from,
        active_to=service.active_to,
        in_provider_dc=service.in_provider_dc,
    )


def incident_record(incident: Incident) -> IncidentRecord:
    return IncidentRecord(
        incident_id=incident.id,
        service_id=incident.service_id,
        ticket_number=incident.ticket_id,
        client_notice_at=incident.client_notice_at,
        monitoring_start_at=incident.monitoring_start_at,
        monitoring_end_at=incident.monitoring_end_at,
        status=incident.status,
        confirmed_at=incident.confirmed_at,
        layer=incident.layer,
        restored_at=incident.restored_at,
        exclusion=incident.exclusion,
        restoration_type=incident.restoration_type,
        data_loss=incident.data_loss,
    )


def ticket_record(ticket: Ticket) -> TicketRecord:
    return TicketRecord(
        number=ticket.id,
        channel=ticket.channel,
        service_type=ticket.service.service_type if ticket.service else None,
        category=ticket.category.value if ticket.category else "",
        opened_at=ticket.opened_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        emergency=ticket.emergency,
    )


async def load_month(
    session: AsyncSession, month: str, config: SlaConfig, customer_id: int | None = None
) -> MonthEvidence:
    period = month_bounds(month, config.zone)
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise CrmError("unknown_customer", customer_id=customer_id)

    service_query = select(Service).where(
        Service.active_from < period.end,
        or_(Service.active_to.is_(None), Service.active_to > period.start),
    )
    if customer_id is not None:
        service_query = service_query.where(Service.customer_id == customer_id)
    services = (await session.scalars(service_query.order_by(Service.id))).all()
    service_ids = [s.id for s in services]

    # An incident belongs to the month when its evidence could overlap it; the engine clips.
    incidents = (
        await session.scalars(
            select(Incident)
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
    ).all()
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
    ticket_query = select(Ticket).where(
        Ticket.opened_at >= period.start, Ticket.opened_at < period.end
    )
    if customer_id is not None:
        ticket_query = ticket_query.where(Ticket.customer_id == customer_id)
    tickets = (await session.scalars(ticket_query.order_by(Ticket.id))).all()
    claims = (
        await session.execute(
            select(CreditClaim.service_id, CreditClaim.month).where(
                CreditClaim.month == month, CreditClaim.service_id.in_(service_ids)
            )
        )
    ).all()
    return MonthEvidence(
        services=[service_record(s) for s in services],
        incidents=[incident_record(i) for i in incidents],
        maintenance=[
            MaintenanceWindow(w.service_id, w.starts_at, w.ends_at, w.cancelled_at is not None)
            for w in windows
        ],
        tickets=[ticket_record(t) for t in tickets],
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
