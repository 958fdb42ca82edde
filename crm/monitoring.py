"""Monitoring evidence (terms A 5.12 / B 5.8: downtime is also recorded "on the basis of the
provider's internal data"): Alertmanager webhooks and CSV history become incidents."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.errors import CrmError
from crm.incidents import IncidentService
from crm.models import Incident, Service

# Alertmanager sends this for "no end yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


class MonitoringInputError(ValueError):
    """The payload or file is malformed; the message says where and what."""


@dataclass(frozen=True)
class MonitoringSignal:
    service_id: int
    ref: str
    starts_at: datetime
    ends_at: datetime | None  # None: still firing


@dataclass(frozen=True)
class AppliedSignal:
    signal: MonitoringSignal
    incident: Incident
    opened: bool
    # False when the record and its end were known already (a repeated notification).
    new: bool = True


def parse_instant(text: object, where: str, zone: ZoneInfo | None = None) -> datetime:
    """RFC 3339 with an offset; a time without one is local to `zone` when given."""
    if not isinstance(text, str) or not text.strip():
        raise MonitoringInputError(f"{where}: a time is required")
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Alertmanager may send nanoseconds; Python keeps microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise MonitoringInputError(f"{where}: {text!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        if zone is None:
            raise MonitoringInputError(f"{where}: {text!r} has no UTC offset")
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_alertmanager(payload: Any, service_label: str = "service_id") -> list[MonitoringSignal]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise MonitoringInputError("payload: expected an object with an 'alerts' list")
    if not payload["alerts"]:
        raise MonitoringInputError("alerts: the list is empty")
    signals = []
    for index, alert in enumerate(payload["alerts"]):
        where = f"alerts[{index}]"
        if not isinstance(alert, dict):
            raise MonitoringInputError(f"{where}: expected an object")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise MonitoringInputError(f"{where}.status: expected 'firing' or 'resolved'")
        labels = alert.get("labels")
        service = labels.get(service_label) if isinstance(labels, dict) else None
        if not isinstance(service, str | int) or not str(service).isdigit():
            raise MonitoringInputError(f"{where}.labels.{service_label}: a service id is required")
        starts_at = parse_instant(alert.get("startsAt"), f"{where}.startsAt")
        ends_at = None
        if status == "resolved":
            if alert.get("endsAt") in (None, "", ZERO_TIME):
                raise MonitoringInputError(f"{where}.endsAt: a resolved alert needs its end")
            ends_at = parse_instant(alert.get("endsAt"), f"{where}.endsAt")
            if ends_at < starts_at:
                raise MonitoringInputError(f"{where}: endsAt is before startsAt")
        fingerprint = alert.get("fingerprint")
        ref = str(fingerprint) if fingerprint else f"{service}@{starts_at.isoformat()}"
        signals.append(MonitoringSignal(int(service), f"am:{ref}", starts_at, ends_at))
    return signals


def alertmanager_group(payload: Any) -> str | None:
    """The notification's `groupKey`: its alerts are one outage (one room, an incident per
    service). None when Alertmanager sent none."""
    key = payload.get("groupKey") if isinstance(payload, dict) else None
    return str(key) if isinstance(key, str | int) and str(key).strip() else None


CSV_COLUMNS = ("service_id", "starts_at", "ends_at")


def parse_csv(text: str, zone: ZoneInfo) -> list[MonitoringSignal]:
    """Columns service_id, starts_at, ends_at (empty: still down), optional ref."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise MonitoringInputError(f"header: missing column(s) {', '.join(missing)}")
    signals = []
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        service = (row.get("service_id") or "").strip()
        if not service.isdigit():
            raise MonitoringInputError(f"{where}: service_id {service!r} is not a number")
        starts_at = parse_instant(row.get("starts_at"), f"{where} starts_at", zone)
        ends_text = (row.get("ends_at") or "").strip()
        ends_at = parse_instant(ends_text, f"{where} ends_at", zone) if ends_text else None
        if ends_at is not None and ends_at < starts_at:
            raise MonitoringInputError(f"{where}: ends_at is before starts_at")
        ref = (row.get("ref") or "").strip() or f"{service}@{starts_at.isoformat()}"
        signals.append(MonitoringSignal(int(service), f"csv:{ref}", starts_at, ends_at))
    if not signals:
        raise MonitoringInputError("the file has no rows")
    return signals


class MonitoringService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock

    async def apply(
        self, signals: Sequence[MonitoringSignal], group: str | None = None
    ) -> list[AppliedSignal]:
        """All or nothing: an unknown service refuses the whole batch before any write.

        With an Alertmanager `group`, the alerts are one outage: the group's running one, or
        the first alert's incident leads a new one (one room); each service keeps its own
        incident. A repeated notification adds nothing."""
        for signal in signals:
            if await self.session.get(Service, signal.service_id) is None:
                raise CrmError("unknown_service", service_id=signal.service_id)
        applied = [await self._apply(signal) for signal in signals]
        fresh = [a.incident for a in applied if a.new]
        if group is not None and fresh:
            incidents = IncidentService(self.session, self.clock)
            await incidents.join_group(group, fresh, self.clock())
        return applied

    async def _apply(self, signal: MonitoringSignal) -> AppliedSignal:
        placed = await IncidentService(self.session, self.clock).monitoring(
            signal.service_id, signal.ref, signal.starts_at, signal.ends_at
        )
        if placed is None:
            # Alertmanager repeats notifications: nothing new, nothing to tell.
            incident = await IncidentService(self.session, self.clock).by_monitoring_ref(signal.ref)
            return AppliedSignal(signal, incident, opened=False, new=False)
        return AppliedSignal(signal, placed.incident, placed.opened)
