"""Managers plan and cancel maintenance windows; the affected clients are told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.errors import CrmError
from crm.maintenance import MaintenanceService
from crm.usecases.notices import (
    MaintenanceAlreadyOver,
    MaintenanceCancelled,
    MaintenanceRegistered,
    NoSuchMaintenance,
    NoSuchService,
    Outcome,
    told,
)


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    service_id: int | None  # None: every service
    starts_at: datetime
    ends_at: datetime
    text: str
    manager_id: int
    requested_at: datetime  # the command's own time: a window over by then is refused


async def plan_maintenance(maintenance: MaintenanceService, plan: MaintenancePlan) -> Outcome:
    """A window already over is refused (nothing left to announce); one already running is
    accepted, so downtime inside it is excluded, and the clients are told at once."""
    if plan.ends_at <= plan.requested_at:
        return told(MaintenanceAlreadyOver(plan.starts_at, plan.ends_at))
    try:
        window = await maintenance.add(
            plan.service_id, plan.starts_at, plan.ends_at, plan.text, plan.manager_id
        )
    except CrmError:
        return told(NoSuchService(plan.service_id))
    contacts = await maintenance.affected_contacts(plan.service_id)
    service = await maintenance.service(plan.service_id)
    started = plan.starts_at <= plan.requested_at
    return told(MaintenanceRegistered(window, tuple(contacts), service, started))


async def cancel_maintenance(
    maintenance: MaintenanceService, window_id: int, now: datetime
) -> Outcome:
    """The clients told of a window hear it is cancelled, unless it is over or was already
    cancelled (then nobody is told twice)."""
    try:
        window, newly = await maintenance.cancel(window_id)
    except CrmError:
        return told(NoSuchMaintenance(window_id))
    contacts = (
        await maintenance.affected_contacts(window.service_id)
        if newly and window.ends_at > now
        else ()
    )
    service = await maintenance.service(window.service_id)
    return told(MaintenanceCancelled(window, tuple(contacts), service))
