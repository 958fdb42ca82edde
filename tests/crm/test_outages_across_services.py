"""Outages beyond one service (issue 10): incidents gather into one outage (a room, the
answers and the commands shared) while each service keeps its own incident and evidence."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.incidents import IncidentService, Report
from crm.models import Incident, NoticeSource, ServiceType
from crm.monitoring import MonitoringService, MonitoringSignal
from crm.reporting import incident_record_of, monthly_report
from crm.usecases import outage_commands as outage
from crm.usecases.notices import MergeRefused, OutagesMerged, UnknownSite
from sla.config import SlaConfig
from sla.model import Exclusion, Layer
from tests.crm.usecase_fixtures import ACTIVE_SINCE, ENGINEER, NINE
from tests.db import postgres_server, rows
from tests.e2e.harness import wait_until

DECEMBER = datetime(2026, 12, 2, tzinfo=UTC)


def at(minutes_after_nine: float) -> datetime:
    return NINE + timedelta(minutes=minutes_after_nine)


def command(incident: Incident, minutes_after_nine: float) -> outage.OutageCommand:
    return outage.OutageCommand(incident, ENGINEER, at(minutes_after_nine))


async def racks(session: AsyncSession, *sites: str | None) -> None:
    """One customer's dedicated servers rack-1.., at the given sites."""
    crm = CustomerService(session)
    customer = await crm.add_customer("Steppe Cloud LLP")
    for number, site in enumerate(sites, start=1):
        service = await crm.add_service(
            customer.id, ServiceType.DEDICATED, Decimal("150000"), name=f"rack-{number}",
            active_from=ACTIVE_SINCE,
        )  # fmt: skip
        service.site = site
    await session.flush()


async def down(incidents: IncidentService, service_id: int, minutes: float) -> Incident:
    report = Report(service_id, NoticeSource.ENGINEER, at(minutes), None, ENGINEER)
    return (await incidents.report(report)).incident


async def counted(session: AsyncSession) -> list[float]:
    report, _evidence = await monthly_report(session, "2026-11", SlaConfig(), DECEMBER)
    return [s.downtime.counted.total_seconds() / 60 for s in report.services]


def signal(service_id: int, minutes: float) -> MonitoringSignal:
    return MonitoringSignal(service_id, f"am:fp-{service_id}", at(minutes), None)


async def test_an_alertmanager_group_opens_one_outage_with_an_incident_per_service(
    session: AsyncSession, database_url: str
) -> None:
    await racks(session, "DC1", "DC1", "DC1")
    monitoring = MonitoringService(session)
    signals = [signal(1, 0), signal(2, 1), signal(3, 2)]
    applied = await monitoring.apply(signals, group='{}:{site="DC1"}')
    await session.commit()
    again = await monitoring.apply(signals, group='{}:{site="DC1"}')
    await session.commit()

    lead, *members = (a.incident for a in applied)
    assert [a.opened for a in applied] == [True, True, True]
    assert [a.new for a in again] == [False, False, False]
    assert lead.outage_id is None and [m.outage_id for m in members] == [lead.id, lead.id]
    incidents = IncidentService(session)
    for incident in (lead, *members):
        assert [i.id for i in await incidents.outage_members(incident)] == [1, 2, 3]
    assert rows(
        database_url, "select service_id, monitoring_start_at from incidents order by id"
    ) == [
        (1, "2026-11-02 09:00:00.000000"),
        (2, "2026-11-02 09:01:00.000000"),
        (3, "2026-11-02 09:02:00.000000"),
    ]
    merged = "select count(*) from incident_events where kind = 'merged'"
    assert rows(database_url, merged) == [(2,)]  # the repeat added nothing


async def test_merging_leaves_each_services_evidence_and_sla_reading_as_it_was(
    session: AsyncSession,
) -> None:
    await racks(session, None, None)
    incidents = IncidentService(session)
    first, second = await down(incidents, 1, 0), await down(incidents, 2, 30)
    await outage.confirm_outage(incidents, command(first, 5), Layer.HARDWARE)
    before = [incident_record_of(first), incident_record_of(second)]
    readings = [outage.counting(i, at(40)) for i in (first, second)]

    merged = await outage.merge_outages(incidents, first, [second.id], ENGINEER, at(40))

    assert isinstance(merged.notices[0], OutagesMerged)
    assert [incident_record_of(first), incident_record_of(second)] == before
    assert [outage.counting(i, at(40)) for i in (first, second)] == readings
    # Commands on the outage act on each member: its own evidence, its own downtime.
    for member in await incidents.outage_members(second):
        await outage.confirm_outage(incidents, command(member, 45), Layer.HARDWARE)
        await outage.restore_outage(incidents, command(member, 60), at(60), stated=False)
    await session.commit()
    assert await counted(session) == [60, 30]
    assert (first.confirmed_at, second.confirmed_at) == (at(5), at(45))


async def test_a_new_ticket_waits_in_the_room_of_the_outage_still_running_not_a_newer_one_over(
    session: AsyncSession,
) -> None:
    await racks(session, None, None, None, None)
    incidents = IncidentService(session)
    running = await down(incidents, 1, 0)
    restored, rejected = await down(incidents, 2, 5), await down(incidents, 3, 6)
    await outage.restore_outage(incidents, command(restored, 10), at(10), stated=False)
    await outage.reject_outage(incidents, command(rejected, 11), "client DNS")
    # Monitoring saw this one end: over, though nobody recorded a restoration.
    await MonitoringService(session).apply([MonitoringSignal(4, "am:fp-4", at(7), at(12))])
    await session.commit()
    services = await CustomerService(session).list_services(1)

    assert await incidents.room_for_new_ticket(services) == running.id
    await outage.restore_outage(incidents, command(running, 20), at(20), stated=False)
    assert await incidents.room_for_new_ticket(services) is None


async def test_merging_what_makes_no_sense_is_refused_and_changes_nothing(
    session: AsyncSession,
) -> None:
    await racks(session, None, None, None, None, None)
    incidents = IncidentService(session)
    lead, rejected, excluded, over, fine = [await down(incidents, s, 0) for s in range(1, 6)]
    await outage.reject_outage(incidents, command(rejected, 1), "client DNS")
    await outage.exclude_outage(incidents, command(excluded, 1), Exclusion.FORCE_MAJEURE, None)
    await outage.restore_outage(incidents, command(over, 2), at(2), stated=False)

    async def refusal(target: Incident | int, *numbers: int) -> MergeRefused:
        (notice,) = (
            await outage.merge_outages(incidents, target, numbers, ENGINEER, at(3))
        ).notices
        assert isinstance(notice, MergeRefused)
        return notice

    assert await refusal(lead, 99, fine.id) == MergeRefused(99, "unknown")
    assert await refusal(lead, lead.id) == MergeRefused(lead.id, "itself")
    assert await refusal(lead, fine.id, rejected.id) == MergeRefused(rejected.id, "rejected")
    assert await refusal(lead, excluded.id) == MergeRefused(excluded.id, "excluded")
    assert await refusal(lead, over.id) == MergeRefused(over.id, "closed")
    assert await refusal(98, fine.id) == MergeRefused(98, "unknown", target=True)
    assert await refusal(over, fine.id) == MergeRefused(over.id, "closed", target=True)
    assert fine.outage_id is None  # all or nothing
    assert await incidents.outage_members(lead) == [lead]


async def test_a_lead_merged_into_another_outage_brings_its_members(
    session: AsyncSession,
) -> None:
    await racks(session, None, None, None)
    incidents = IncidentService(session)
    a, b, c = [await down(incidents, s, 0) for s in (1, 2, 3)]
    await outage.merge_outages(incidents, b, [c.id], ENGINEER, at(1))
    (notice,) = (await outage.merge_outages(incidents, a, [b.id], ENGINEER, at(2))).notices

    assert isinstance(notice, OutagesMerged)
    assert [i.id for i in notice.joined] == [b.id, c.id]
    assert (b.outage_id, c.outage_id) == (a.id, a.id)  # one level: every member names the lead
    assert await incidents.outage_members(c) == [a, b, c]


async def test_a_site_gathers_its_running_outages_and_new_reports_while_it_runs(
    session: AsyncSession,
) -> None:
    await racks(session, "DC1", "DC1", "DC2", "DC1")
    incidents = IncidentService(session)
    lead, same_site = await down(incidents, 1, 0), await down(incidents, 2, 1)
    elsewhere = await down(incidents, 3, 2)

    (unknown,) = (await outage.gather_site(incidents, command(lead, 3), "DC9")).notices
    (notice,) = (await outage.gather_site(incidents, command(lead, 3), "dc1")).notices
    joined_later = await down(incidents, 4, 4)

    assert unknown == UnknownSite("DC9", ["DC1", "DC2"])
    assert isinstance(notice, OutagesMerged) and notice.site == "DC1"
    assert [i.id for i in notice.joined] == [same_site.id]
    assert elsewhere.outage_id is None
    assert joined_later.outage_id == lead.id
    # Once every member is restored the outage is over: a new report stands alone.
    for member in await incidents.outage_members(lead):
        await outage.restore_outage(incidents, command(member, 10), at(10), stated=False)
    assert (await down(incidents, 2, 20)).outage_id is None


@pytest.mark.skipif(postgres_server() is None, reason="two writers at once: PostgreSQL only")
async def test_a_report_placed_while_another_instance_gathers_the_site_joins_that_outage(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async with sessionmaker() as setup:
        await racks(setup, "DC1", "DC1")
        lead = await down(IncidentService(setup), 1, 0)
        await setup.commit()
    # Instance A runs `/site DC1` and has not committed yet when instance B places a
    # report of the other rack: B must wait for A's outage rather than open its own.
    gathering, placing = sessionmaker(), sessionmaker()
    try:
        incidents_a = IncidentService(gathering)
        lead_a = await gathering.get(Incident, lead.id)
        assert lead_a is not None
        await outage.gather_site(incidents_a, command(lead_a, 3), "DC1")
        placed = asyncio.create_task(down(IncidentService(placing), 2, 4))
        await wait_until(
            lambda: advisory_lock_waiters(database_url) == 1 or placed.done(),
            "instance B waiting for the site's lock",
            lambda: "B never waited: it placed its report without seeing A's outage",
        )
        assert not placed.done()
        await gathering.commit()
        joined = await placed
        await placing.commit()
    finally:
        await gathering.close()
        await placing.close()
    assert joined.outage_id == lead.id


def advisory_lock_waiters(database_url: str) -> int:
    ((waiting,),) = rows(
        database_url,
        "select count(*) from pg_locks where locktype = 'advisory' and not granted",
    )
    return int(waiting)


@pytest.mark.skipif(postgres_server() is None, reason="two writers at once: PostgreSQL only")
async def test_one_alertmanager_group_applied_by_two_instances_at_once_is_one_outage(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async with sessionmaker() as setup:
        await racks(setup, "DC1", "DC1")
        await setup.commit()
    group = '{}:{site="DC1"}'
    first, second = sessionmaker(), sessionmaker()
    try:
        (opened,) = await MonitoringService(first).apply([signal(1, 0)], group=group)
        applying = asyncio.create_task(MonitoringService(second).apply([signal(2, 1)], group=group))
        await wait_until(
            lambda: advisory_lock_waiters(database_url) == 1 or applying.done(),
            "the second instance waiting for the group's lock",
            lambda: "the second instance opened its own outage without waiting",
        )
        await first.commit()
        (joined,) = await applying
        await second.commit()
    finally:
        await first.close()
        await second.close()
    assert opened.incident.outage_id is None
    assert joined.incident.outage_id == opened.incident.id
