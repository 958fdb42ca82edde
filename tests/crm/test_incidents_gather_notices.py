"""An outage is a provider event (issue 9): notices from tickets and monitoring gather in
incidents, each minute counts once, and state changes that make no sense are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import ContactService
from crm.customers import CustomerService
from crm.incidents import IncidentService
from crm.models import Incident, ServiceType
from crm.reporting import incident_record_of, monthly_report, service_record_of
from crm.tickets import TicketService
from crm.usecases import outage_commands as outage
from crm.usecases.client_wrote import client_wrote
from crm.usecases.notices import (
    DataLossRecorded,
    OutageConfirmed,
    OutageRestored,
    RestoreRefused,
)
from crm.usecases.outage_reported import choose_service, report_down
from sla.config import SlaConfig
from sla.model import Exclusion, Layer, RestorationType
from sla.targets import Outcome, restoration_check
from tests.crm.usecase_fixtures import (
    ACTIVE_SINCE,
    CLIENT,
    ENGINEER,
    NINE,
    linked_client,
    said,
)
from tests.db import rows

DAY = 24 * 60
DECEMBER = datetime(2026, 12, 2, tzinfo=UTC)


def at(minutes_after_nine: float) -> datetime:
    return NINE + timedelta(minutes=minutes_after_nine)


def command(incident: Incident, minutes_after_nine: float) -> outage.OutageCommand:
    return outage.OutageCommand(incident, ENGINEER, at(minutes_after_nine))


async def counted_minutes(session: AsyncSession, service_index: int = 0) -> float:
    report, _evidence = await monthly_report(session, "2026-11", SlaConfig(), DECEMBER)
    return report.services[service_index].downtime.counted.total_seconds() / 60


async def down_confirmed_restored(
    tickets: TicketService, incidents: IncidentService, start: float, end: float
) -> Incident:
    down = await report_down(tickets, incidents, said("/down", start))
    assert down.ticket is not None
    incident = (await incidents.of_ticket(down.ticket.id))[-1]
    await outage.confirm_outage(incidents, command(incident, start + 5), Layer.HARDWARE)
    await outage.restore_outage(incidents, command(incident, end), at(end), stated=False)
    return incident


async def test_a_repeat_outage_in_a_reopened_ticket_is_a_new_incident_a_5_12(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    first = await down_confirmed_restored(tickets, incidents, 0, 60)
    second = await down_confirmed_restored(tickets, incidents, DAY, DAY + 30)
    await session.commit()

    assert first.id != second.id
    assert first.restored_at == at(60)
    assert await counted_minutes(session) == 90  # not a day and a half


async def test_outage_in_an_old_ticket_takes_the_reporting_messages_time_a_5_12(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    asked = await client_wrote(tickets, said("how do I resize a disk?", 0))
    await client_wrote(tickets, said("the server is down!", DAY))
    assert asked.ticket is not None
    notice = await incidents.reporting_message_time(asked.ticket, None)
    await outage.open_outage(incidents, asked.ticket, 1, ENGINEER, notice)
    (incident,) = await incidents.of_ticket(asked.ticket.id)
    await outage.confirm_outage(incidents, command(incident, DAY + 5), Layer.HARDWARE)
    await outage.restore_outage(incidents, command(incident, DAY + 60), at(DAY + 60), stated=False)
    await session.commit()

    assert notice == (at(DAY), "last_message")
    assert await counted_minutes(session) == 60


async def test_restoring_twice_is_refused_with_the_time_already_recorded(
    tickets: TicketService, session: AsyncSession, database_url: str
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    incident = await down_confirmed_restored(tickets, incidents, 0, 60)

    again = await outage.restore_outage(incidents, command(incident, 90), at(90), stated=False)
    corrected = await outage.restore_outage(
        incidents, command(incident, 95), at(45), stated=True, correction="graph shows 09:45"
    )
    await session.commit()

    assert again.notices == (RestoreRefused(incident, "already_restored", at(60), None),)
    (restored,) = corrected.notices
    assert isinstance(restored, OutageRestored) and restored.corrected_from == at(60)
    assert rows(
        database_url,
        "select kind, actor_name from incident_events"
        " where kind in ('restored', 'restoration_corrected') order by id",
    ) == [("restored", "Dana"), ("restoration_corrected", "Dana")]
    assert await counted_minutes(session) == 45


async def test_restoring_a_rejected_outage_is_refused_and_the_client_told_nothing_more(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    await outage.reject_outage(incidents, command(incident, 5), "client-side DNS")

    refused = await outage.restore_outage(incidents, command(incident, 60), at(60), stated=False)

    assert refused.notices == (
        RestoreRefused(incident, "restore_rejected", None, "client-side DNS"),
    )
    assert incident.restored_at is None


async def test_yesterdays_monitoring_blip_and_todays_report_are_two_incidents_a_5_12(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    blip = await incidents.monitoring(1, "am:blip", at(-DAY), at(-DAY + 30))
    report = await down_confirmed_restored(tickets, incidents, 0, 60)
    await session.commit()

    assert blip is not None and blip.opened and blip.incident.id != report.id
    assert await counted_minutes(session) == 90  # not 25.5 hours


async def test_monitoring_that_overlaps_a_report_joins_it_and_its_earlier_start_counts(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down", 0))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    joined = await incidents.monitoring(1, "am:x", at(-10), None)
    await outage.confirm_outage(incidents, command(incident, 5), Layer.NETWORK)
    await outage.restore_outage(incidents, command(incident, 60), at(60), stated=False)
    await session.commit()

    assert joined is not None and not joined.opened and joined.incident.id == incident.id
    assert await counted_minutes(session) == 70


async def test_a_monitoring_end_before_the_latest_client_report_does_not_end_the_outage(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    await incidents.monitoring(1, "am:y", at(-10), None)
    down = await report_down(tickets, incidents, said("/down", 0))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    await incidents.monitoring(1, "am:y", at(-10), at(-5))  # resolved, but the client says no

    assert incident.monitoring_end_at == at(-5)
    assert incident.restored_at is None
    await outage.confirm_outage(incidents, command(incident, 5), Layer.HARDWARE)
    await outage.restore_outage(incidents, command(incident, 50), at(50), stated=False)
    await session.commit()
    assert await counted_minutes(session) == 60


async def test_a_monitoring_only_incident_confirmed_on_the_os_layer_counts_nothing_a_4_1(
    session: AsyncSession,
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    placed = await incidents.monitoring(1, "am:os", at(0), at(120))
    assert placed is not None
    outcome = await outage.confirm_outage(incidents, command(placed.incident, 130), Layer.OS)
    await session.commit()

    (confirmed,) = outcome.notices
    assert isinstance(confirmed, OutageConfirmed)
    assert (confirmed.counting.counted, confirmed.counting.reason) == (False, "customer_layer")
    assert await counted_minutes(session) == 0


async def test_a_monitoring_only_incident_can_be_excluded_as_force_majeure_a_5_11(
    session: AsyncSession,
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    placed = await incidents.monitoring(1, "am:flood", at(0), at(120))
    assert placed is not None
    await outage.exclude_outage(
        incidents, command(placed.incident, 130), Exclusion.FORCE_MAJEURE, "flood"
    )
    await session.commit()

    assert await counted_minutes(session) == 0


async def test_two_services_down_in_one_report_are_two_incidents_of_the_ticket(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=2)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down", 0))
    assert down.ticket is not None
    await choose_service(tickets, incidents, down.ticket, 1, CLIENT)
    notice = await incidents.reporting_message_time(down.ticket, None)
    await outage.open_outage(incidents, down.ticket, 2, ENGINEER, notice)

    reported = await incidents.of_ticket(down.ticket.id)
    assert [(i.service_id, i.client_notice_at) for i in reported] == [(1, at(0)), (2, at(0))]


async def test_a_restoration_monitoring_recorded_meets_the_restoration_target_a_5_7(
    session: AsyncSession,
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    placed = await incidents.monitoring(1, "am:reboot", at(0), None)
    assert placed is not None
    incident = placed.incident
    await outage.confirm_outage(incidents, command(incident, 5), Layer.HARDWARE)
    await outage.set_restoration_type(
        incidents, command(incident, 6), RestorationType.REBOOT, SlaConfig()
    )
    await incidents.monitoring(1, "am:reboot", at(0), at(35))

    check = restoration_check(
        incident_record_of(incident), service_record_of(incident.service), SlaConfig(), DECEMBER
    )
    assert check is not None
    assert (check.outcome, check.elapsed) == (Outcome.MET, timedelta(minutes=30))


async def test_data_loss_promises_a_credit_only_when_the_engine_grants_one_a_5_14(
    tickets: TicketService, session: AsyncSession
) -> None:
    await linked_client(session, services=1)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)

    unconfirmed = await outage.record_data_loss(incidents, command(incident, 5))
    await outage.confirm_outage(incidents, command(incident, 6), Layer.DATA)
    customer_layer = await outage.record_data_loss(incidents, command(incident, 7))
    await outage.confirm_outage(incidents, command(incident, 8), Layer.HARDWARE)
    provider = await outage.record_data_loss(incidents, command(incident, 9))

    reasons = [o.notices[0] for o in (unconfirmed, customer_layer, provider)]
    assert all(isinstance(r, DataLossRecorded) for r in reasons)
    assert [r.credit_reason for r in reasons if isinstance(r, DataLossRecorded)] == [
        "not_confirmed",
        "customer_layer",
        None,
    ]


async def test_a_storage_customers_question_is_measured_against_24_hours_b_5_3(
    tickets: TicketService, session: AsyncSession
) -> None:
    crm = CustomerService(session)
    customer = await crm.add_customer("Bucket LLP")
    await crm.add_service(
        customer.id, ServiceType.OBJECT_STORAGE, Decimal("9000"), name="b-1",
        active_from=ACTIVE_SINCE,
    )  # fmt: skip
    token = (await crm.create_invitation(customer.id)).token
    await ContactService(session).link(CLIENT, token)
    asked = await client_wrote(tickets, said("how do I set a lifecycle rule?", 0))
    assert asked.ticket is not None
    await tickets.resolve(asked.ticket.id, ENGINEER, at(30 * 60))
    await session.commit()

    report, _evidence = await monthly_report(session, "2026-11", SlaConfig(), DECEMBER)
    resolution = report.tickets.resolution
    assert (resolution.count, len(resolution.breaches)) == (1, 1)


async def test_a_data_loss_during_the_storage_trial_promises_no_credit_b_3(
    tickets: TicketService, session: AsyncSession
) -> None:
    crm = CustomerService(session)
    customer = await crm.add_customer("Bucket LLP")
    await crm.add_service(
        customer.id, ServiceType.OBJECT_STORAGE, Decimal("60000"), name="b-1",
        active_from=NINE - timedelta(days=1), trial_days=3,
    )  # fmt: skip
    token = (await crm.create_invitation(customer.id)).token
    await ContactService(session).link(CLIENT, token)
    incidents = IncidentService(session)
    down = await report_down(tickets, incidents, said("/down"))
    assert down.ticket is not None
    (incident,) = await incidents.of_ticket(down.ticket.id)
    await outage.confirm_outage(incidents, command(incident, 5), Layer.HARDWARE)

    recorded = await outage.record_data_loss(incidents, command(incident, 6))

    assert recorded.notices == (DataLossRecorded(incident, [down.ticket], "trial"),)
