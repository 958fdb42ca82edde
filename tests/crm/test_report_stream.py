"""`python -m sla report --format json` reads and writes the services a few thousand at a
time (`stream_monthly_report`); the bytes are those of the whole report built at once
(`monthly_report`, dumped by the standard library): the same services in the same order
(customer names differing only in case, one name for two customers), the same incidents,
restorations (equal confirmation times among them), exclusions, windows and claims, for
every customer and for one, in a month that is over and one still running."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import CreditClaim, Customer, Incident, MaintenanceWindow, Service
from crm.report_cli import STREAMED
from crm.reporting import monthly_report, stream_monthly_report
from sla import SlaConfig, month_bounds
from sla.model import Exclusion, IncidentStatus, Layer, RestorationType, ServiceType
from tests.crm.report_formats import WHOLE

CONFIG = SlaConfig()
MONTH = "2026-11"
PERIOD = month_bounds(MONTH, CONFIG.zone)
NAMES = ("alpha", "Alpha", "ALPHA", "Ärna", "ärna", "beta", "Ақжол", "alpha")


def moment(rng: random.Random) -> datetime:
    """Somewhere from a week before the month to a week after it, often on a whole hour
    (so that confirmations coincide)."""
    seconds = rng.randint(-7 * 86_400, 37 * 86_400)
    if rng.random() < 0.5:
        seconds -= seconds % 3600
    return PERIOD.start + timedelta(seconds=seconds)


async def fill(session: AsyncSession, seed: int) -> int:
    rng = random.Random(seed)
    created = PERIOD.start - timedelta(days=400)
    customers = [Customer(name=name, created_at=created) for name in NAMES]
    session.add_all(customers)
    await session.flush()
    services = []
    for n in range(40):
        kind = rng.choice([ServiceType.DEDICATED, *ServiceType])
        active_from = rng.choice([created, moment(rng)])
        active_to = rng.choice([None, None, active_from + timedelta(days=rng.randint(1, 40))])
        services.append(
            Service(
                customer_id=rng.choice(customers).id,
                service_type=kind,
                name=rng.choice(["", f"{kind.value}-{n}"]),
                monthly_fee=Decimal(rng.randrange(10_000, 500_000, 500)),
                active_from=active_from,
                active_to=active_to,
                in_provider_dc=rng.random() < 0.8,
                trial_until=rng.choice([None, None, active_from + timedelta(days=20)]),
                created_at=active_from,
            )
        )
    session.add_all(services)
    await session.flush()
    # Restorations confirmed at one moment: the report keeps them in service, incident order.
    shared = [PERIOD.start + timedelta(days=3), PERIOD.start + timedelta(days=12)]
    for _ in range(300):
        status = rng.choice([IncidentStatus.CONFIRMED, *IncidentStatus])
        notice = rng.choice(shared) if rng.random() < 0.3 else moment(rng)
        confirmed = notice if rng.random() < 0.8 else None
        if status is IncidentStatus.CONFIRMED and confirmed is None:
            confirmed = notice
        restored = rng.choice([None, notice + timedelta(minutes=rng.randint(1, 900))])
        if rng.random() < 0.3:  # restored within 45 min: a reboot meets its target
            restored = notice + timedelta(minutes=rng.randint(1, 45))
        if notice in shared and rng.random() < 0.5:
            restored = None
        monitored = rng.random() < 0.5
        session.add(
            Incident(
                service_id=rng.choice(services).id,
                status=status,
                client_notice_at=rng.choice([None, notice]) if monitored else notice,
                monitoring_start_at=notice - timedelta(minutes=3) if monitored else None,
                monitoring_end_at=restored if monitored and restored is not None else None,
                confirmed_at=confirmed,
                layer=rng.choice([None, None, Layer.HARDWARE, *Layer]),
                restored_at=restored,
                exclusion=rng.choice([None, None, None, *Exclusion]),
                restoration_type=rng.choice([None, *RestorationType, *RestorationType]),
                data_loss=rng.random() < 0.1,
                created_at=notice,
            )
        )
    for n in range(8):
        starts = moment(rng)
        session.add(
            MaintenanceWindow(
                service_id=rng.choice([None, rng.choice(services).id]),
                starts_at=starts,
                ends_at=starts + timedelta(hours=rng.randint(1, 30)),
                description=f"works {n}",
                created_at=created,
                cancelled_at=rng.choice([None, None, created]),
            )
        )
    for service in rng.sample(services, 6):
        session.add(
            CreditClaim(service_id=service.id, month=MONTH, claimed_at=PERIOD.end + timedelta(1))
        )
    await session.flush()
    return customers[0].id


@pytest.mark.parametrize(
    "now", [PERIOD.end + timedelta(days=3), PERIOD.start + timedelta(days=20, microseconds=1)]
)
async def test_streamed_json_is_the_whole_report_byte_for_byte(
    session: AsyncSession, now: datetime
) -> None:
    first_customer = await fill(session, seed=15)
    for customer_id in (None, first_customer):
        report, _ = await monthly_report(session, MONTH, CONFIG, now, customer_id)
        for chunk, form in itertools.product((1, 3, 1000), ("json", "text", "csv")):
            head, services = await stream_monthly_report(
                session, MONTH, CONFIG, now, customer_id, chunk=chunk
            )
            streamed = b"".join([part async for part in STREAMED[form](head, services)])
            assert streamed == WHOLE[form](report), (chunk, form)
    # The data is varied enough to mean something.
    everyone, _ = await monthly_report(session, MONTH, CONFIG, now)
    restoration = everyone.tickets.restoration
    assert restoration.count > 5 and restoration.breaches
    assert len({check.started_at for check in restoration.breaches}) < len(restoration.breaches)
    listed = everyone.services
    assert len(listed) > 20 and sum(len(s.incidents) for s in listed) > 30
    assert any(s.claimed for s in listed)


async def test_an_empty_month_streams_the_whole_report(session: AsyncSession) -> None:
    now = PERIOD.end + timedelta(days=1)
    report, _ = await monthly_report(session, MONTH, CONFIG, now)
    for form in ("json", "text", "csv"):
        head, services = await stream_monthly_report(session, MONTH, CONFIG, now)
        streamed = b"".join([part async for part in STREAMED[form](head, services)])
        assert streamed == WHOLE[form](report), form
        if form == "json":
            assert json.loads(streamed)["empty"] is True
        if form == "text":
            assert b"No services, tickets or incidents in this month." in streamed


async def test_a_report_abandoned_midway_leaves_no_read_running(session: AsyncSession) -> None:
    """The next services are read while the current ones are reported; a writer that
    fails midway (a full disk) closes the report, and nothing is left reading on the
    connection it is about to close."""
    await fill(session, seed=15)
    now = PERIOD.end + timedelta(days=3)
    head, services = await stream_monthly_report(session, MONTH, CONFIG, now, chunk=3)
    first = await anext(services)
    await services.aclose()

    assert first.service.service_id > 0
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with pytest.raises(RuntimeError, match="not all been read"):
        await head.complete()
    # The connection goes on serving the session.
    assert await session.scalar(select(func.count()).select_from(Service)) == 40
