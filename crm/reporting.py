"""Reads one month of evidence from the database into the pure SLA engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import CrmError
from crm.models import (
    CreditClaim,
    Customer,
    Handoff,
    Incident,
    Service,
    Ticket,
)
from crm.models import MaintenanceWindow as MaintenanceRow
from crm.verify import evidence_head
from sla import (
    IncidentRecord,
    Interval,
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
    # The evidence chain's head, read in the same transaction as the rows above.
    evidence_head: str | None = None


# The database columns each record is read from, in the order of the record's fields. The
# report selects them as plain rows; the live clocks select them beside the ORM objects they
# alert about; both convert with the functions below, so both apply the rules to one reading.
SERVICE_COLUMNS = (
    Service.id, Service.customer_id, Customer.name, Service.service_type, Service.monthly_fee,
    Service.currency, Service.active_from, Service.active_to, Service.in_provider_dc,
    Service.trial_until, Service.name,
)  # fmt: skip
INCIDENT_COLUMNS = (
    Incident.id, Incident.service_id, Incident.ticket_id, Incident.client_notice_at,
    Incident.monitoring_start_at, Incident.monitoring_end_at, Incident.status,
    Incident.confirmed_at, Incident.layer, Incident.restored_at, Incident.exclusion,
    Incident.restoration_type, Incident.data_loss, Incident.last_client_notice_at,
)  # fmt: skip
# Needs `.outerjoin(Service, Service.id == Ticket.service_id)`: a ticket may name no service.
TICKET_COLUMNS = (
    Ticket.id, Ticket.channel, func.coalesce(Service.service_type, Ticket.service_type),
    Ticket.category, Ticket.opened_at,
    Ticket.first_response_at, Ticket.resolved_at, Ticket.emergency,
    exists().where(Handoff.ticket_id == Ticket.id).label("handed_off"),
)  # fmt: skip
INCIDENT_RECORD_FIELDS = (
    "incident_id", "service_id", "ticket_number", "client_notice_at", "monitoring_start_at",
    "monitoring_end_at", "status", "confirmed_at", "layer", "restored_at", "exclusion",
    "restoration_type", "data_loss", "last_client_notice_at",
)  # fmt: skip


def service_record(values: Sequence[Any]) -> ServiceRecord:
    """`values`: SERVICE_COLUMNS of one row."""
    return ServiceRecord(*values)


def service_record_of(service: Service) -> ServiceRecord:
    """A service already loaded as an ORM object (with its customer), read through the
    same columns as the report's."""
    return service_record(
        [
            service.customer.name if column is Customer.name else getattr(service, column.key)
            for column in SERVICE_COLUMNS
        ]
    )


def incident_record(values: Sequence[Any]) -> IncidentRecord:
    """`values`: INCIDENT_COLUMNS of one row."""
    return IncidentRecord(**dict(zip(INCIDENT_RECORD_FIELDS, values, strict=True)))


def incident_record_of(incident: Incident) -> IncidentRecord:
    """An incident already loaded as an ORM object, read through the same columns."""
    return incident_record([getattr(incident, column.key) for column in INCIDENT_COLUMNS])


def ticket_record(values: Sequence[Any]) -> TicketRecord:
    """`values`: TICKET_COLUMNS of one row."""
    number, channel, service_type, category, *times, emergency, handed_off = values
    opened_at, first_response_at, resolved_at = times
    return TicketRecord(
        number=number,
        channel=channel,
        service_type=service_type,
        category=category.value if category else "",
        opened_at=opened_at,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
        emergency=emergency,
        handed_off=bool(handed_off),
    )


async def load_month(
    session: AsyncSession, month: str, config: SlaConfig, customer_id: int | None = None
) -> MonthEvidence:
    period = month_bounds(month, config.zone)
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise CrmError("unknown_customer", customer_id=customer_id)
    head = await evidence_head(session)

    active_in_month = [
        Service.active_from < period.end,
        or_(Service.active_to.is_(None), Service.active_to > period.start),
    ]
    if customer_id is not None:
        active_in_month.append(Service.customer_id == customer_id)
    # Sub-selects rather than id lists: SQLite caps bound parameters, a month has 100k services.
    service_ids = select(Service.id).where(*active_in_month)
    services = [
        service_record(row)
        for row in await session.execute(
            select(*SERVICE_COLUMNS)
            .join(Customer, Customer.id == Service.customer_id)
            .where(*active_in_month)
            .order_by(Service.id)
        )
    ]

    incidents = await _incidents_of_month(session, service_ids, period)
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
        select(*TICKET_COLUMNS)
        .outerjoin(Service, Service.id == Ticket.service_id)
        .where(Ticket.opened_at >= period.start, Ticket.opened_at < period.end)
    )
    if customer_id is not None:
        ticket_query = ticket_query.where(Ticket.customer_id == customer_id)
    tickets = [
        ticket_record(row) for row in await session.execute(ticket_query.order_by(Ticket.id))
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
        evidence_head=head,
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
        evidence.evidence_head,
    )
    return report, evidence


async def _incidents_of_month(
    session: AsyncSession, service_ids: Select[int], period: Interval
) -> list[IncidentRecord]:
    # An incident belongs to the month when its evidence could overlap it; the engine clips.
    incidents = [
        incident_record(row)
        for row in await session.execute(
            select(*INCIDENT_COLUMNS)
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
    return incidents
