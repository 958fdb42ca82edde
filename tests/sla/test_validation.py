"""Records and configuration reject what would silently corrupt the figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sla import (
    Channel,
    IncidentRecord,
    IncidentStatus,
    Layer,
    MaintenanceWindow,
    SlaConfig,
    TicketRecord,
)
from tests.sla.factories import almaty, outage, report, service, ticket

NAIVE = datetime(2026, 4, 10, 12, 0)
AWARE = almaty(2026, 4, 10, 12)

NAIVE_ENTRY_POINTS: dict[str, Callable[[], object]] = {
    "service.active_from": lambda: service(active_from=NAIVE),
    "service.active_to": lambda: service(active_to=NAIVE),
    "incident.client_notice_at": lambda: IncidentRecord(1, 1, client_notice_at=NAIVE),
    "incident.monitoring_start_at": lambda: IncidentRecord(1, 1, monitoring_start_at=NAIVE),
    "incident.monitoring_end_at": lambda: IncidentRecord(1, 1, monitoring_end_at=NAIVE),
    "incident.confirmed_at": lambda: IncidentRecord(
        1, 1, status=IncidentStatus.CONFIRMED, confirmed_at=NAIVE
    ),
    "incident.restored_at": lambda: IncidentRecord(1, 1, restored_at=NAIVE),
    "maintenance.start": lambda: MaintenanceWindow(None, NAIVE, AWARE),
    "maintenance.end": lambda: MaintenanceWindow(None, AWARE, NAIVE),
    "ticket.opened_at": lambda: ticket(1, NAIVE, None),
    "ticket.first_response_at": lambda: TicketRecord(
        1, Channel.TELEGRAM, None, "q", AWARE, first_response_at=NAIVE
    ),
    "ticket.resolved_at": lambda: TicketRecord(
        1, Channel.TELEGRAM, None, "q", AWARE, resolved_at=NAIVE
    ),
    "report.now": lambda: report(now=NAIVE),
}


@pytest.mark.parametrize("entry_point", sorted(NAIVE_ENTRY_POINTS))
def test_naive_datetime_is_rejected_wherever_it_enters(entry_point: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NAIVE_ENTRY_POINTS[entry_point]()


def test_aware_datetimes_are_normalised_to_utc() -> None:
    record = IncidentRecord(1, 1, client_notice_at=almaty(2026, 4, 10, 12))
    assert record.client_notice_at == datetime(2026, 4, 10, 7, tzinfo=UTC)
    assert record.client_notice_at is not None and record.client_notice_at.tzinfo is UTC


def test_fee_must_be_decimal_not_float() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        service(fee=100.0)  # type: ignore[arg-type]


def test_negative_fee_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        service(fee=Decimal("-1"))


def test_service_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="active_to"):
        service(active_from=almaty(2026, 4, 2), active_to=almaty(2026, 4, 1))


def test_confirmed_incident_needs_confirmation_time() -> None:
    with pytest.raises(ValueError, match="confirmed_at"):
        IncidentRecord(1, 1, client_notice_at=AWARE, status=IncidentStatus.CONFIRMED)


def test_monitoring_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="monitoring"):
        IncidentRecord(
            1, 1, monitoring_start_at=AWARE, monitoring_end_at=AWARE - timedelta(minutes=1)
        )


def test_first_response_cannot_precede_the_ticket() -> None:
    with pytest.raises(ValueError, match="first_response_at"):
        ticket(1, AWARE, timedelta(minutes=-1))


def test_enum_fields_accept_their_string_values_and_reject_others() -> None:
    record = IncidentRecord(1, 1, layer="network", status="reported")  # type: ignore[arg-type]
    assert record.layer is Layer.NETWORK
    with pytest.raises(ValueError):
        IncidentRecord(1, 1, layer="firmware")  # type: ignore[arg-type]


def test_replace_revalidates_records() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(outage(1, AWARE, timedelta(minutes=5)), restored_at=NAIVE)


def test_config_rejects_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SlaConfig(timezone="Asia/Nowhere")


def test_config_rejects_bounds_out_of_order() -> None:
    with pytest.raises(ValueError, match="bounds"):
        SlaConfig(band_lower_bound_percent=Decimal("99.95"))


def test_config_rejects_non_positive_targets() -> None:
    with pytest.raises(ValueError, match="telegram_first_response"):
        SlaConfig(telegram_first_response=timedelta())


def test_config_defaults_are_the_terms_values() -> None:
    config = SlaConfig()
    assert config.timezone == "Asia/Almaty"
    assert config.availability_target_percent == Decimal("99.9")  # A 5.6 / B 5.4
    assert (config.major_credit_percent, config.severe_credit_percent) == (10, 15)  # A 5.8
    assert config.band_credit_percent == 0  # AMB-1: the terms print a dash
    assert config.data_loss_credit_percent == 50  # A 5.14 / B 5.10
    assert config.credit_cap_percent_of_fee == 100  # A 5.9 / B 5.5
    assert config.telegram_first_response == timedelta(minutes=10)  # A 5.2
    assert config.email_first_response == timedelta(hours=24)  # A 5.2
    assert config.phone_first_response is None
    assert config.object_storage_processing == timedelta(hours=24)  # B 5.3
    assert config.reboot_restoration == timedelta(minutes=45)  # A 5.7
    assert config.repair_restoration == timedelta(hours=8)  # A 5.7
