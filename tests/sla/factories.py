"""Small builders so each test states only the facts its rule depends on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sla import (
    Channel,
    Claim,
    IncidentRecord,
    IncidentStatus,
    Layer,
    MaintenanceWindow,
    MonthlyReport,
    ServiceRecord,
    ServiceType,
    SlaConfig,
    TicketRecord,
    build_monthly_report,
)

ALMATY = ZoneInfo("Asia/Almaty")
DEFAULT_CONFIG = SlaConfig()
FEE = Decimal("100000.00")
# April 2026 has 30 days: 43 200 minutes, so 43.2 minutes of downtime is exactly 0.1 %.
THIRTY_DAY_MONTH = "2026-04"
AFTER_APRIL = datetime(2026, 5, 2, tzinfo=ALMATY)


def almaty(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ALMATY)


def service(
    service_id: int = 1,
    *,
    service_type: ServiceType = ServiceType.DEDICATED,
    fee: Decimal = FEE,
    active_from: datetime | None = None,
    active_to: datetime | None = None,
    in_provider_dc: bool = True,
    customer_id: int = 10,
    customer_name: str = "Acme LLP",
) -> ServiceRecord:
    return ServiceRecord(
        service_id=service_id,
        customer_id=customer_id,
        customer_name=customer_name,
        service_type=service_type,
        monthly_fee=fee,
        currency="KZT",
        active_from=active_from or almaty(2025, 1, 1),
        active_to=active_to,
        in_provider_dc=in_provider_dc,
    )


def outage(
    incident_id: int,
    start: datetime,
    duration: timedelta | None,
    *,
    service_id: int = 1,
    layer: Layer | None = Layer.HARDWARE,
    **overrides: Any,
) -> IncidentRecord:
    """A confirmed outage reported by the client at `start`, restored after `duration`
    (None: still open)."""
    base = IncidentRecord(
        incident_id=incident_id,
        service_id=service_id,
        ticket_number=1000 + incident_id,
        client_notice_at=start,
        status=IncidentStatus.CONFIRMED,
        confirmed_at=start,
        layer=layer,
        restored_at=None if duration is None else start + duration,
    )
    return replace(base, **overrides)


def maintenance(
    start: datetime, duration: timedelta, *, service_id: int | None = 1, cancelled: bool = False
) -> MaintenanceWindow:
    return MaintenanceWindow(service_id, start, start + duration, cancelled)


def ticket(
    number: int,
    opened_at: datetime,
    response_after: timedelta | None,
    *,
    channel: Channel = Channel.TELEGRAM,
    service_type: ServiceType | None = None,
    resolved_after: timedelta | None = None,
    emergency: bool = False,
) -> TicketRecord:
    return TicketRecord(
        number=number,
        channel=channel,
        service_type=service_type,
        category="question",
        opened_at=opened_at,
        first_response_at=None if response_after is None else opened_at + response_after,
        resolved_at=None if resolved_after is None else opened_at + resolved_after,
        emergency=emergency,
    )


def report(
    month: str = THIRTY_DAY_MONTH,
    services: Iterable[ServiceRecord] = (),
    incidents: Iterable[IncidentRecord] = (),
    maintenance_windows: Iterable[MaintenanceWindow] = (),
    tickets: Iterable[TicketRecord] = (),
    claims: Iterable[Claim] = (),
    config: SlaConfig = DEFAULT_CONFIG,
    now: datetime = AFTER_APRIL,
    evidence_head: str | None = None,
) -> MonthlyReport:
    return build_monthly_report(
        month, services, incidents, maintenance_windows, tickets, claims, config, now,
        evidence_head,
    )  # fmt: skip


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
