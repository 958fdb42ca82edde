"""The month's ticket figures counted by the database (`tally_month_tickets`: grouped,
elapsed times computed in SQL) are the figures of the tickets checked one by one, on
SQLite and on PostgreSQL: times at the second and at the microsecond, answers exactly at
a target and a microsecond either side, tickets still open, handed off, about object
storage by their service or by their own type, opened just outside the month."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import make_engine
from crm.models import Customer, Handoff, Service, Ticket, TicketStatus
from crm.report_cli import STREAMED, tickets_counted_aside
from crm.reporting import (
    _joined,
    load_month,
    monthly_report,
    stream_monthly_report,
    tally_month_tickets,
)
from sla import SlaConfig, month_bounds
from sla.model import Channel, ServiceType
from sla.ticket_stats import tally_tickets
from tests.crm.report_formats import WHOLE

CONFIG = SlaConfig()
MONTH = "2026-11"
PERIOD = month_bounds(MONTH, CONFIG.zone)
TARGETS = (timedelta(minutes=10), timedelta(minutes=60), timedelta(hours=24))


def offset(rng: random.Random) -> timedelta | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.5:
        target = rng.choice(TARGETS)
        return target + timedelta(microseconds=rng.choice((-1, 0, 1)))
    if roll < 0.75:
        return timedelta(seconds=rng.randint(0, 3 * 24 * 3600))
    return timedelta(microseconds=rng.randint(0, 3 * 24 * 3600 * 10**6))


async def fill(session: AsyncSession, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    created = PERIOD.start - timedelta(days=30)
    customers = [Customer(name=f"Customer {n}", created_at=created) for n in (1, 2)]
    session.add_all(customers)
    await session.flush()
    services = [
        Service(
            customer_id=customers[n % 2].id,
            service_type=kind,
            name=f"{kind.value}-{n}",
            monthly_fee=100,
            active_from=created,
            created_at=created,
        )
        for n, kind in enumerate((ServiceType.OBJECT_STORAGE, ServiceType.DEDICATED) * 2)
    ]
    session.add_all(services)
    await session.flush()
    tickets = []
    for _ in range(400):
        # Some just outside the month; at the second (as Telegram gives) or finer.
        opened = PERIOD.start + timedelta(seconds=rng.randint(-3600, 31 * 24 * 3600))
        if rng.random() < 0.5:
            opened += timedelta(microseconds=rng.randint(0, 999_999))
        response, resolved = offset(rng), offset(rng)
        service = rng.choice([None, None, *services])
        tickets.append(
            Ticket(
                channel=rng.choice(list(Channel)),
                status=TicketStatus.OPEN,
                customer_id=rng.choice([None, customers[0].id, customers[1].id]),
                service_id=None if service is None else service.id,
                service_type=rng.choice([None, *ServiceType]),
                opened_at=opened,
                emergency=rng.random() < 0.3,
                first_response_at=None if response is None else opened + response,
                resolved_at=None if resolved is None else opened + resolved,
                created_at=opened,
            )
        )
    session.add_all(tickets)
    await session.flush()
    for ticket in rng.sample(tickets, 60):
        session.add(
            Handoff(
                ticket_id=ticket.id,
                department="billing",
                chat_id=-100,
                summary="",
                handed_at=ticket.opened_at,
                created_at=ticket.opened_at,
            )
        )
    await session.flush()
    return customers[0].id, customers[1].id


@pytest.mark.parametrize(
    "now",
    [
        PERIOD.end + timedelta(days=3),
        PERIOD.start + timedelta(days=20, microseconds=1),
        PERIOD.end,
    ],
)
async def test_counted_by_the_database_equals_checked_one_by_one(
    session: AsyncSession, now: datetime
) -> None:
    first_customer, _ = await fill(session, seed=15)
    for customer_id in (None, first_customer):
        evidence = await load_month(session, MONTH, CONFIG, customer_id, with_tickets=True)
        one_by_one = tally_tickets(evidence.tickets, CONFIG, now, PERIOD).figures()
        counted = (await tally_month_tickets(session, MONTH, CONFIG, now, customer_id)).figures()
        assert counted == one_by_one
        # The data is varied enough to mean something.
        assert one_by_one.first_response.breaches
        assert one_by_one.resolution.breaches
        assert one_by_one.handed_off.count
        assert one_by_one.first_response.measured


async def test_a_month_without_tickets(session: AsyncSession) -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    figures = (await tally_month_tickets(session, MONTH, CONFIG, now)).figures()
    assert figures == tally_tickets([], CONFIG, now, PERIOD).figures()


@pytest.mark.parametrize("piece", [1, 2, 7, 1 << 16])
def test_joined_numbers_read_back_piece_by_piece(piece: int) -> None:
    """The database's joined texts of elapsed microseconds and ticket numbers are read a
    piece at a time: every number comes back, negative ones and those on a piece's edge."""
    rng = random.Random(piece)
    numbers = [rng.randint(-(10**12), 10**12) for _ in range(500)] + [0, -1, 7]
    assert list(_joined(",".join(map(str, numbers)), piece)) == numbers
    assert list(_joined("42", piece)) == [42]
    assert list(_joined(None, piece)) == []


@pytest.mark.parametrize("form", ["json", "text", "csv"])
async def test_tickets_counted_aside_give_the_report_one_session_reads(
    session: AsyncSession, database_url: str, form: str
) -> None:
    """`python -m sla report` counts the month's tickets on a second connection while it
    reads and writes the services on the first (`tickets_counted_aside`): the JSON, the
    text and the CSV are those of the report one session builds, for everyone and for
    one customer."""
    first_customer, _ = await fill(session, seed=16)
    await session.commit()
    now = PERIOD.end + timedelta(days=3)
    engine = make_engine(database_url, reads_only=True)
    try:
        for customer_id in (None, first_customer):
            report, _ = await monthly_report(session, MONTH, CONFIG, now, customer_id)
            await session.rollback()  # its write lock (the bot's engine takes it at BEGIN)
            async with tickets_counted_aside(engine, MONTH, CONFIG, now, customer_id) as (
                reading,
                tickets,
            ):
                head, services = await stream_monthly_report(
                    reading, MONTH, CONFIG, now, customer_id, tickets=tickets
                )
                streamed = b"".join([part async for part in STREAMED[form](head, services)])

            assert report.tickets.count > 100 and report.tickets.first_response.breaches
            assert report.services
            assert streamed == WHOLE[form](report)
    finally:
        await engine.dispose()
