"""Input records the CRM builds from its database; the SLA engine reads nothing else.

All records are frozen. Every datetime is validated as timezone-aware and stored in UTC, so
a naive timestamp fails loudly where it enters instead of shifting an outage by five hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from sla.intervals import require_aware, require_aware_or_none


class ServiceType(StrEnum):
    DEDICATED = "dedicated"  # document A
    OBJECT_STORAGE = "object_storage"  # document B


class Layer(StrEnum):
    """The failed layer, in the order of the responsibility matrix (terms A 4.1 / B 4.1)."""

    DATA = "data"
    APPLICATIONS = "applications"
    MIDDLEWARE = "middleware"
    OS = "os"
    VIRTUALIZATION = "virtualization"
    HARDWARE = "hardware"
    NETWORK = "network"


class Exclusion(StrEnum):
    """Reasons downtime is not compensated (terms A 5.10, 5.11 / B 5.6, 5.7)."""

    MAINTENANCE = "maintenance"
    FORCE_MAJEURE = "force_majeure"
    CLIENT_CAUSED = "client_caused"


class RestorationType(StrEnum):
    """Restoration method of terms A 5.7; the allowed times live in SlaConfig."""

    REBOOT = "reboot"  # physical reboot, logical disable/enable of interfaces: 45 min
    REPAIR = "repair"  # diagnostics, fault elimination, parts replacement: 8 h


class Channel(StrEnum):
    TELEGRAM = "telegram"
    PHONE = "phone"
    EMAIL = "email"


class IncidentStatus(StrEnum):
    REPORTED = "reported"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


Claim = tuple[int, str]
"""(service_id, "YYYY-MM"): the customer asked for the credit of that service and month."""


def _set(record: object, name: str, value: object) -> None:
    object.__setattr__(record, name, value)


@dataclass(frozen=True)
class ServiceRecord:
    """One service a customer pays for. `active_to` None means still active.

    `trial_until`: the end of a free trial (terms B 3) that began at `active_from`; the
    service is paid from then on (unless it ended first). None: paid from `active_from`.
    """

    service_id: int
    customer_id: int
    customer_name: str
    service_type: ServiceType
    monthly_fee: Decimal
    currency: str
    active_from: datetime
    active_to: datetime | None
    in_provider_dc: bool
    trial_until: datetime | None = None
    # What the customer calls it ("rack-1"): reports name services, not "dedicated #1".
    name: str = ""

    @property
    def paid_from(self) -> datetime:
        """Where the fee starts: the trial's end, or the activation without a trial."""
        if self.trial_until is None:
            return self.active_from
        return max(self.trial_until, self.active_from)

    def __post_init__(self) -> None:
        if type(self.service_type) is not ServiceType:
            _set(self, "service_type", ServiceType(self.service_type))
        # Instants already UTC (as the CRM reads them) are kept as they are: `require_aware`'s
        # own first test, without a call and a set per instant (100k services a month).
        for name in ("trial_until", "active_from", "active_to"):
            value = getattr(self, name)
            if value is None and name != "active_from":
                continue
            if not (type(value) is datetime and value.tzinfo is UTC):
                _set(self, name, require_aware(value, f"ServiceRecord.{name}"))
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValueError(f"service {self.service_id}: active_to is before active_from")
        # A float fee would carry binary rounding error into every credit.
        if not isinstance(self.monthly_fee, Decimal) or not self.monthly_fee.is_finite():
            raise TypeError(f"service {self.service_id}: monthly_fee must be a finite Decimal")
        if self.monthly_fee < 0:
            raise ValueError(f"service {self.service_id}: monthly_fee must not be negative")
        if not self.currency:
            raise ValueError(f"service {self.service_id}: currency must not be empty")


_INCIDENT_INSTANTS = (
    "client_notice_at",
    "last_client_notice_at",
    "monitoring_start_at",
    "monitoring_end_at",
    "confirmed_at",
    "restored_at",
)


@dataclass(frozen=True)
class IncidentRecord:
    """An outage of one service, as recorded by the support desk and monitoring.

    Evidence: `client_notice_at` is the client's Telegram message time (or the phone time an
    engineer stated); monitoring times come from the provider's own data (terms A 5.12 /
    B 5.8). `restored_at` is the restoration an engineer marked or stated.

    An incident gathers many notices; the record carries their reading: the earliest and
    the latest client (or phone) notice, the earliest monitoring start, and the monitoring
    end once every monitoring record of the incident has ended.
    """

    incident_id: int
    service_id: int
    ticket_number: int | None = None
    client_notice_at: datetime | None = None
    monitoring_start_at: datetime | None = None
    monitoring_end_at: datetime | None = None
    status: IncidentStatus = IncidentStatus.REPORTED
    confirmed_at: datetime | None = None
    layer: Layer | None = None
    restored_at: datetime | None = None
    exclusion: Exclusion | None = None
    restoration_type: RestorationType | None = None
    data_loss: bool = False
    last_client_notice_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.last_client_notice_at is None:
            _set(self, "last_client_notice_at", self.client_notice_at)
        for name in _INCIDENT_INSTANTS:
            value = getattr(self, name)
            # Already UTC (as the CRM reads them): `require_aware`'s own first test, without
            # the call and its label per instant (a month's report reads 100k incidents).
            if value is not None and not (type(value) is datetime and value.tzinfo is UTC):
                _set(self, name, require_aware(value, f"IncidentRecord({self.incident_id}).{name}"))
        # Members already (as the CRM reads them) are kept: the enum's call costs ~1 µs each.
        if type(self.status) is not IncidentStatus:
            _set(self, "status", IncidentStatus(self.status))
        if self.layer is not None and type(self.layer) is not Layer:
            _set(self, "layer", Layer(self.layer))
        if self.exclusion is not None and type(self.exclusion) is not Exclusion:
            _set(self, "exclusion", Exclusion(self.exclusion))
        if self.restoration_type is not None and type(self.restoration_type) is not RestorationType:
            _set(self, "restoration_type", RestorationType(self.restoration_type))
        if (
            self.monitoring_start_at is not None
            and self.monitoring_end_at is not None
            and self.monitoring_end_at < self.monitoring_start_at
        ):
            raise ValueError(f"incident {self.incident_id}: monitoring ends before it starts")
        # Restoration time runs from confirmation (terms A 5.7 as read in PRODUCT.md), so a
        # confirmed incident without that moment could not be measured.
        if self.status is IncidentStatus.CONFIRMED and self.confirmed_at is None:
            raise ValueError(f"incident {self.incident_id}: confirmed without confirmed_at")


@dataclass(frozen=True)
class MaintenanceWindow:
    """Planned works (terms A 5.10 / B 5.6). `service_id` None covers every service."""

    service_id: int | None
    start: datetime
    end: datetime
    cancelled: bool = False

    def __post_init__(self) -> None:
        _set(self, "start", require_aware(self.start, "MaintenanceWindow.start"))
        _set(self, "end", require_aware(self.end, "MaintenanceWindow.end"))
        if self.end < self.start:
            raise ValueError("maintenance window ends before it starts")


@dataclass(frozen=True)
class TicketRecord:
    """A support request. `opened_at` is the client's first message (or the logged call or
    e-mail time); `first_response_at` the first engineer message delivered to the client."""

    number: int
    channel: Channel
    service_type: ServiceType | None
    category: str
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    emergency: bool = False
    # Handed to another department (A/B 5.3): counted apart, still on support's target.
    handed_off: bool = False

    def __post_init__(self) -> None:
        _set(self, "channel", Channel(self.channel))
        if self.service_type is not None:
            _set(self, "service_type", ServiceType(self.service_type))
        label = f"TicketRecord({self.number})"
        _set(self, "opened_at", require_aware(self.opened_at, f"{label}.opened_at"))
        for name in ("first_response_at", "resolved_at"):
            value = require_aware_or_none(getattr(self, name), f"{label}.{name}")
            if value is not None and value < self.opened_at:
                raise ValueError(f"ticket {self.number}: {name} is before opened_at")
            _set(self, name, value)
