"""Reads one month of evidence from the database into the pure SLA engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Result, Select, and_, exists, func, or_, select
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
from sla.ticket_stats import TicketTally

# Rows are fetched from the database this many at a time when streamed.
STREAM_CHUNK = 20_000


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
# What `TicketTally.add` takes, with the service id in the place of the service type
# (TICKET_COLUMNS' coalesce, looked up in a dict rather than joined a million times).
TALLY_COLUMNS = (
    Ticket.id, Ticket.channel, Ticket.service_id, Ticket.service_type,
    Ticket.opened_at, Ticket.first_response_at, Ticket.resolved_at, Ticket.emergency,
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


async def _rows(session: AsyncSession, statement: Executable) -> Result[Any]:
    """Plain rows through the session's connection (its transaction), without the ORM's
    result processing: the report reads columns, never entities."""
    connection = await session.connection()
    return await connection.execute(statement)


def _ticket_query(columns: Sequence[Any], period: Interval, customer_id: int | None) -> Select[Any]:
    query = select(*columns)
    if columns is TICKET_COLUMNS:
        query = query.outerjoin(Service, Service.id == Ticket.service_id)
    query = query.where(Ticket.opened_at >= period.start, Ticket.opened_at < period.end)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    return query


async def load_month(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    customer_id: int | None = None,
    *,
    with_tickets: bool = True,
) -> MonthEvidence:
    """Everything the month's report is built from. `with_tickets=False` leaves the
    tickets out (an empty list): `tally_month_tickets` streams them instead."""
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
        for row in await _rows(
            session,
            select(*SERVICE_COLUMNS)
            .join(Customer, Customer.id == Service.customer_id)
            .where(*active_in_month)
            .order_by(Service.id),
        )
    ]

    incidents = await _incidents_of_month(session, service_ids, period)
    windows: Sequence[Any] = (
        await _rows(
            session,
            select(
                MaintenanceRow.service_id,
                MaintenanceRow.starts_at,
                MaintenanceRow.ends_at,
                MaintenanceRow.cancelled_at,
            ).where(
                MaintenanceRow.starts_at < period.end,
                MaintenanceRow.ends_at > period.start,
                or_(
                    MaintenanceRow.service_id.is_(None), MaintenanceRow.service_id.in_(service_ids)
                ),
            ),
        )
    ).all()
    # Plain rows, not ORM objects: a month may hold a million tickets.
    tickets = []
    if with_tickets:
        ticket_query = _ticket_query(TICKET_COLUMNS, period, customer_id).order_by(Ticket.id)
        tickets = [ticket_record(row) for row in await _rows(session, ticket_query)]
    claims: Sequence[Any] = (
        await _rows(
            session,
            select(CreditClaim.service_id, CreditClaim.month).where(
                CreditClaim.month == month, CreditClaim.service_id.in_(service_ids)
            ),
        )
    ).all()
    return MonthEvidence(
        services=services,
        incidents=incidents,
        maintenance=[
            MaintenanceWindow(service_id, starts_at, ends_at, cancelled_at is not None)
            for service_id, starts_at, ends_at, cancelled_at in windows
        ],
        tickets=tickets,
        claims=[(service_id, claim_month) for service_id, claim_month in claims],
        evidence_head=head,
    )


async def tally_month_tickets(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
) -> TicketTally:
    """The month's tickets streamed in chunks into the pure tally: plain tuples, never a
    list of a million records."""
    period = month_bounds(month, config.zone)
    tally = TicketTally(config, now, period)
    types: Sequence[Any] = (await _rows(session, select(Service.id, Service.service_type))).all()
    service_types: dict[int | None, Any] = {service_id: kind for service_id, kind in types}
    connection = await session.connection()
    result = await connection.stream(
        _ticket_query(TALLY_COLUMNS, period, customer_id).execution_options(yield_per=STREAM_CHUNK)
    )
    add = tally.add
    async for chunk in result.partitions(STREAM_CHUNK):
        for number, channel, service_id, ticket_type, opened, answered, resolved, *flags in chunk:
            service_type = service_types.get(service_id) or ticket_type
            add(number, channel, service_type, opened, answered, resolved, flags[0], flags[1])
    return tally


async def monthly_report(
    session: AsyncSession,
    month: str,
    config: SlaConfig,
    now: datetime,
    customer_id: int | None = None,
    *,
    with_tickets: bool = False,
) -> tuple[MonthlyReport, MonthEvidence]:
    """The report; the evidence it was built from, with the ticket records only when
    `with_tickets` (the workbook lists them; the figures never need them)."""
    evidence = await load_month(session, month, config, customer_id, with_tickets=with_tickets)
    tickets: list[TicketRecord] | TicketTally = evidence.tickets
    if not with_tickets:
        tickets = await tally_month_tickets(session, month, config, now, customer_id)
    report = build_monthly_report(
        month,
        evidence.services,
        evidence.incidents,
        evidence.maintenance,
        tickets,
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
        for row in await _rows(
            session,
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
            .order_by(Incident.id),
        )
    ]
    return incidents
