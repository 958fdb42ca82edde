"""What a client's report costs the desk in a storm does not grow with the number of
services their customer has: the same statements, and a plain message reads none of them
(issue 15: 300 clients write at once, and each must be answered within seconds).
Statements and rows are counted, never timed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiogram.types import Update
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm.customers import CustomerService
from crm.models import Service, ServiceType
from tests.conftest import Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

FEW, MANY = 2, 30


@dataclass
class Cost:
    statements: int = 0
    services_read: int = 0
    said: list[str] = field(default_factory=list)

    def writes(self, verb: str, table: str) -> int:
        """How many statements `verb` (INSERT, UPDATE) the table."""
        into = "INTO " if verb == "INSERT" else ""
        return sum(s.startswith(f"{verb} {into}{table} ") for s in self.said)


@dataclass
class Meter:
    """Counts what the desk asks of the database while it handles one update."""

    engine: AsyncEngine
    cost: Cost = field(default_factory=Cost)

    @contextmanager
    def measuring(self) -> Iterator[Cost]:
        cost = self.cost = Cost()

        def statement(_connection: Any, _cursor: Any, text: str, *_args: Any) -> None:
            cost.statements += 1
            cost.said.append(text)

        def service_read(*_args: Any) -> None:
            cost.services_read += 1

        event.listen(self.engine.sync_engine, "before_cursor_execute", statement)
        event.listen(Service, "load", service_read)
        try:
            yield cost
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", statement)
            event.remove(Service, "load", service_read)


async def handled(dispatcher: Desk, bot: MockedBot, update: Update, meter: Meter) -> Cost:
    """The cost of handling the update alone (what the outbox then sends is not counted)."""
    with meter.measuring() as cost:
        await dispatcher.dispatcher.feed_update(bot, update)
    await dispatcher.worker.drain(timeout=10)
    return cost


async def customer_with(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, services: int
) -> tuple[str, int]:
    """An invitation token of a customer with that many dedicated servers, and the id of
    the first."""
    async with sessionmaker() as session:
        crm = CustomerService(session)
        customer = await crm.add_customer(name)
        added = [
            await crm.add_service(
                customer.id, ServiceType.DEDICATED, Decimal("150000"), name=f"{name}-{number}"
            )
            for number in range(services)
        ]
        token = (await crm.create_invitation(customer.id)).token
        await session.commit()
        return token, added[0].id


async def storm_costs(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    services: int,
    first_client: int,
) -> tuple[Cost, Cost]:
    """Three clients of one customer: the first reports its first service down (the outage
    opens), then, while it runs, the second writes `/down` and the third a plain message.
    The costs of those last two."""
    token, service_id = await customer_with(sessionmaker, f"customer-{services}", services)
    reporter, second, third = first_client, first_client + 1, first_client + 2
    for client in (reporter, second, third):
        await dispatcher.feed_update(bot, updates.private(client, f"/start {token}"))
    await dispatcher.feed_update(bot, updates.private(reporter, "/down"))
    [(ticket_id,)] = rows(database_url, "select max(id) from tickets")
    await dispatcher.feed_update(
        bot, updates.callback(reporter, f"svc:{ticket_id}:{service_id}", message_id=9)
    )
    meter = Meter(sessionmaker.kw["bind"])
    down = await handled(dispatcher, bot, updates.private(second, "/down nothing works"), meter)
    plain = await handled(dispatcher, bot, updates.private(third, "our servers are down"), meter)
    return down, plain


async def test_a_storms_reports_cost_the_same_statements_however_many_services_the_customer_has(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    few = await storm_costs(dispatcher, bot, updates, sessionmaker, database_url, FEW, 700001)
    many = await storm_costs(dispatcher, bot, updates, sessionmaker, database_url, MANY, 700011)

    few_down, few_plain = few
    many_down, many_plain = many
    assert many_down.statements == few_down.statements
    assert many_plain.statements == few_plain.statements
    # A plain message finds the running outage's room without listing the customer's
    # services (a `/down` without its service lists them: the client is asked which).
    assert many_plain.services_read == few_plain.services_read
    # Both reports went where a storm's reports go: into the running outage's room.
    assert rows(
        database_url,
        "select count(*) from tickets where gathered_in_id is not null and support_chat_id is null",
    ) == [(4,)]


# What a report costs in the storm of `python -m bench.storm` (one customer, one server),
# statement by statement; each is a thread hop of the one SQLite writer, and 300 reports
# in 3 s queue behind each other:
#   the transaction (BEGIN, SAVEPOINT, RELEASE) and the update's id (read, then written);
#   the contact, their current ticket (with whether an emergency runs), the customer's
#   first service (with how many they have), and the service's incidents;
#   the ticket, the client's message, its two events (opened, category_set), the
#   incident's event and notice, the acknowledgement's message, the update's outbox rows
#   (one statement for all of them, bot/middlewares.py);
#   the evidence chain (its head read, the links written, the head moved).
# (and the outage's last client notice moves on: an UPDATE). Opening the outage: its
# incident (with its notice times), its topic and header card (outbox rows in that same
# statement, and the ticket's topic recorded). PostgreSQL also locks the contact's and the
# service's rows, and writes other rows of one table in one statement.
FIRST_AND_JOINING_REPORT = {"sqlite": (22, 21), "postgresql": (22, 21)}


async def test_a_storms_report_writes_each_row_once_and_asks_only_what_it_needs(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    token, _service_id = await customer_with(sessionmaker, "steppe", 1)
    first, joining = 700101, 700102
    for client in (first, joining):
        await dispatcher.feed_update(bot, updates.private(client, f"/start {token}"))
    meter = Meter(sessionmaker.kw["bind"])
    opening = await handled(dispatcher, bot, updates.private(first, "/down"), meter)
    a_minute_later = updates.now + timedelta(minutes=1)
    joined = await handled(
        dispatcher, bot, updates.private(joining, "/down rack-1", date=a_minute_later), meter
    )

    # Each ticket is written once, with its category and (the second) the outage's room;
    # the new incident once, with its notice times: nothing is updated right after.
    assert opening.writes("INSERT", "tickets") == joined.writes("INSERT", "tickets") == 1
    assert opening.writes("INSERT", "incidents") == 1
    assert joined.writes("INSERT", "incidents") == 0
    assert joined.writes("UPDATE", "tickets") == 0
    assert opening.writes("UPDATE", "incidents") == 0
    # (The first ticket's topic is recorded when its card is queued.)
    assert opening.writes("UPDATE", "tickets") == 1
    dialect = meter.engine.dialect.name
    assert (opening.statements, joined.statements) == FIRST_AND_JOINING_REPORT[dialect]
    # What the desk keeps is the same: each report its own ticket, the second in the
    # outage's room, each with its events, and the outage knows both notices.
    tickets = rows(
        database_url,
        "select id, category, gathered_in_id is not null, support_chat_id is null"
        " from tickets order by id",
    )
    assert [ticket[1:] for ticket in tickets] == [("down", False, False), ("down", True, True)]
    events = rows(database_url, "select ticket_id, kind from ticket_events order by id")
    assert [
        [kind for ticket_id, kind in events if ticket_id == ticket[0]] for ticket in tickets
    ] == [["opened", "category_set"], ["opened", "category_set"]]
    assert rows(
        database_url,
        "select count(*), min(i.client_notice_at) < max(i.last_client_notice_at)"
        " from incident_notices n join incidents i on i.id = n.incident_id",
    ) == [(2, True)]
