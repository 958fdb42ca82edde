"""Managers plan and cancel maintenance windows; the affected clients are told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.errors import CrmError
from crm.maintenance import MaintenanceService
from crm.usecases.notices import (
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


async def plan_maintenance(maintenance: MaintenanceService, plan: MaintenancePlan) -> Outcome:
    try:
        window = await maintenance.add(
            plan.service_id, plan.starts_at, plan.ends_at, plan.text, plan.manager_id
        )
    except CrmError:
        return told(NoSuchService(plan.service_id))
    contacts = await maintenance.affected_contacts(plan.service_id)
    return told(MaintenanceRegistered(window, tuple(contacts)))


async def cancel_maintenance(maintenance: MaintenanceService, window_id: int) -> Outcome:
    try:
        window = await maintenance.cancel(window_id)
    except CrmError:
        return told(NoSuchMaintenance(window_id))
    return told(MaintenanceCancelled(window))
