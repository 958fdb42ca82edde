"""Managers declare and end an emergency: new tickets get the emergency target meanwhile."""

from __future__ import annotations

from datetime import datetime

from crm.emergencies import EmergencyService
from crm.usecases.notices import EmergencyDeclared, EmergencyEnded, NoEmergency, Outcome, told
from sla.config import SlaConfig


async def declare_emergency(
    emergencies: EmergencyService,
    note: str | None,
    manager_id: int,
    when: datetime,
    config: SlaConfig,
) -> Outcome:
    await emergencies.declare(note, manager_id, when)
    return told(EmergencyDeclared(config.emergency_first_response.total_seconds() / 60))


async def end_emergency(
    emergencies: EmergencyService, manager_id: int, when: datetime, config: SlaConfig
) -> Outcome:
    if await emergencies.end(manager_id, when) is None:
        return told(NoEmergency())
    return told(EmergencyEnded(config.telegram_first_response.total_seconds() / 60))
