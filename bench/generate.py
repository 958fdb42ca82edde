"""Synthetic evidence for the benchmarks, written fast with Core bulk inserts.

Why Core executemany and not the ORM: a million tickets through the unit of work takes
longer than the report they are made for; generation is setup, not the thing measured.
The schema comes from the real Alembic migrations (indexes, triggers), and values go
through the real column types (UtcDateTime, enums), so the report reads what the bot
would have written.

    python -m bench.generate --db month.db --tickets 100000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, create_engine, event, make_url

from crm.db import upgrade_database
from crm.models import (
    Base,
    Category,
    CreditClaim,
    Customer,
    Incident,
    MaintenanceWindow,
    Service,
    Ticket,
    TicketStatus,
)
from sla import month_bounds, previous_month
from sla.model import Channel, Exclusion, IncidentStatus, Layer, RestorationType, ServiceType

Row = dict[str, Any]
CHUNK = 20_000
ZONE = ZoneInfo("Asia/Almaty")
CATEGORIES = (
    [Category.QUESTION] * 50
    + [Category.DOWN] * 20
    + [Category.BILLING] * 12
    + [Category.OTHER] * 10
    + [Category.DATA_LOSS] * 2
    + [None] * 6
)


@dataclass(frozen=True)
class Sizes:
    services: int
    tickets: int
    incidents: int

    @classmethod
    def for_tickets(cls, tickets: int) -> Sizes:
        """The benchmark's scaling: services and incidents are a tenth of the tickets."""
        return cls(services=max(tickets // 10, 1), tickets=tickets, incidents=max(tickets // 10, 1))

    @property
    def customers(self) -> int:
        return max(self.services // 2, 1)

    @property
    def maintenance_windows(self) -> int:
        # A handful per month, as announced planned works are: the engine checks every
        # window against every service, so a realistic count matters.
        return max(5, self.services // 1000)


def database_url(target: Path | str) -> str:
    """The application's URL of `target`: a SQLite file (a path), or a database URL as
    given (e.g. postgresql+asyncpg://user@host:5432/name, a database that exists)."""
    if isinstance(target, str) and "://" in target:
        return target
    return f"sqlite+aiosqlite:///{target}"


def create_database(target: Path | str) -> Engine:
    """A migrated database (the real Alembic migrations, as the bot runs them) and a sync
    engine tuned for bulk loading (not for durability: a crash during generation just
    means generating again). `target`: a SQLite file, or a PostgreSQL URL (an empty
    database; loaded through psycopg)."""
    url = database_url(target)
    upgrade_database(url)
    if not url.startswith("sqlite"):
        return create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    engine = create_engine(f"sqlite:///{target}")

    @event.listens_for(engine, "connect")
    def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-200000")
        cursor.close()

    return engine


def table_of(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def insert_chunked(
    engine: Engine, model: type[Base], rows: Iterable[Row], chunk: int = CHUNK
) -> int:
    """Core executemany (no ORM), one transaction per chunk; returns the number of rows."""
    table = table_of(model)
    total = 0
    iterator = iter(rows)
    while batch := list(islice(iterator, chunk)):
        with engine.begin() as connection:
            connection.execute(table.insert(), batch)
        total += len(batch)
    return total


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


# -- rows -------------------------------------------------------------------------------------


def customer_rows(count: int, created: datetime) -> Iterator[Row]:
    for i in range(1, count + 1):
        yield {"id": i, "name": f"Customer {i:06d} LLP", "created_at": created}


def service_rows(rng: random.Random, sizes: Sizes, start: datetime, end: datetime) -> Iterator[Row]:
    """Most run the whole month; a few start or stop within it."""
    for i in range(1, sizes.services + 1):
        kind = ServiceType.DEDICATED if rng.random() < 0.7 else ServiceType.OBJECT_STORAGE
        roll = rng.random()
        active_from = start - timedelta(days=rng.randint(30, 900))
        active_to = None
        if roll < 0.05:
            active_from = _between(rng, start, end)
        elif roll < 0.08:
            active_to = _between(rng, start, end)
        yield {
            "id": i,
            "customer_id": rng.randint(1, sizes.customers),
            "service_type": kind,
            "name": f"{kind.value}-{i}",
            "monthly_fee": Decimal(rng.randrange(10_000, 500_000, 500)),
            "currency": "KZT",
            "active_from": active_from,
            "active_to": active_to,
            "in_provider_dc": kind is ServiceType.OBJECT_STORAGE or rng.random() < 0.95,
            "created_at": active_from,
        }


def ticket_rows(
    rng: random.Random,
    count: int,
    services: int,
    start: datetime,
    end: datetime,
    now: datetime,
    first_id: int = 1,
) -> Iterator[Row]:
    """Telegram mostly; first responses mostly within the 10-minute target, some breaches;
    most resolved and closed, a few still open. Numbered in the order they were opened, as
    the bot numbers them (so the table is stored roughly in `opened_at` order)."""
    openings = sorted(_between(rng, start, end) for _ in range(count))
    for number, opened in enumerate(openings, start=first_id):
        roll = rng.random()
        channel = (
            Channel.TELEGRAM if roll < 0.9 else Channel.EMAIL if roll < 0.96 else Channel.PHONE
        )
        if channel is Channel.TELEGRAM:
            due: datetime | None = opened + timedelta(minutes=10)
            roll = rng.random()
            if roll < 0.85:
                first: datetime | None = opened + timedelta(seconds=rng.uniform(20, 600))
            elif roll < 0.97:
                first = opened + timedelta(minutes=rng.uniform(10, 180))
            else:
                first = None
        elif channel is Channel.EMAIL:
            due = opened + timedelta(hours=24)
            first = opened + timedelta(hours=rng.uniform(0.2, 30))
        else:
            due = None
            first = opened
        emergency = rng.random() < 0.01
        status = TicketStatus.OPEN
        resolved = closed = None
        if first is not None and rng.random() < 0.93:
            resolved = first + timedelta(minutes=rng.uniform(5, 2 * 24 * 60))
            status = TicketStatus.RESOLVED
            if rng.random() < 0.9:
                closed = resolved + timedelta(hours=rng.uniform(0, 72))
                status = TicketStatus.CLOSED
        first, resolved, closed = (
            None if t is None or t > now else t for t in (first, resolved, closed)
        )
        if status is TicketStatus.CLOSED and closed is None:
            status = TicketStatus.RESOLVED if resolved is not None else TicketStatus.OPEN
        if status is TicketStatus.RESOLVED and resolved is None:
            status = TicketStatus.OPEN
        service_id = rng.randint(1, services) if rng.random() < 0.8 else None
        yield {
            "id": number,
            "channel": channel,
            "category": rng.choice(CATEGORIES),
            "status": status,
            "customer_id": None,
            "contact_id": None,
            "service_id": service_id,
            "client_chat_id": 500_000 + number if channel is Channel.TELEGRAM else None,
            "opened_at": opened,
            "response_due_at": due,
            "emergency": emergency,
            "first_response_at": first,
            "resolved_at": resolved,
            "closed_at": closed,
            "assignee_telegram_id": None,
            "assignee_name": None,
            "support_chat_id": None,
            "topic_thread_id": None,
            "header_message_id": None,
            "rating": rng.randint(1, 5) if closed is not None and rng.random() < 0.3 else None,
            "created_at": opened,
        }


def incident_rows(
    rng: random.Random, sizes: Sizes, service_types: list[ServiceType], start: datetime,
    end: datetime, now: datetime,
) -> Iterator[Row]:  # fmt: skip
    """Confirmed and rejected, with layers, restorations, a few data losses and exclusions."""
    layers = list(Layer)
    for i in range(1, sizes.incidents + 1):
        service_id = rng.randint(1, sizes.services)
        dedicated = service_types[service_id - 1] is ServiceType.DEDICATED
        notice = _between(rng, start - timedelta(hours=6), end)
        roll = rng.random()
        status = (
            IncidentStatus.CONFIRMED
            if roll < 0.7
            else IncidentStatus.REJECTED
            if roll < 0.9
            else IncidentStatus.REPORTED
        )
        monitored = rng.random() < 0.6
        confirmed = restored = None
        layer = restoration = exclusion = None
        if status is IncidentStatus.CONFIRMED:
            confirmed = notice + timedelta(minutes=rng.uniform(1, 30))
            layer = rng.choice(layers)
            if dedicated:
                restoration = (
                    RestorationType.REBOOT if rng.random() < 0.6 else RestorationType.REPAIR
                )
            # Mostly within the restoration targets (45 min reboot, 8 h repair), some late.
            minutes = (
                rng.uniform(5, 55)
                if restoration is RestorationType.REBOOT
                else rng.uniform(30, 9 * 60)
                if restoration is RestorationType.REPAIR
                else rng.uniform(5, 6 * 60)
            )
            if rng.random() < 0.95:
                restored = confirmed + timedelta(minutes=minutes)
            roll = rng.random()
            exclusion = (
                Exclusion.MAINTENANCE
                if roll < 0.05
                else Exclusion.FORCE_MAJEURE
                if roll < 0.08
                else Exclusion.CLIENT_CAUSED
                if roll < 0.12
                else None
            )
        monitoring_start = notice - timedelta(minutes=rng.uniform(0, 10)) if monitored else None
        monitoring_end = None
        if monitored and restored is not None:
            monitoring_end = restored + timedelta(minutes=rng.uniform(-2, 2))
            assert monitoring_start is not None
            monitoring_end = max(monitoring_end, monitoring_start)
        confirmed, restored, monitoring_end = (
            None if t is not None and t > now else t for t in (confirmed, restored, monitoring_end)
        )
        if status is IncidentStatus.CONFIRMED and confirmed is None:
            status = IncidentStatus.REPORTED
        yield {
            "id": i,
            "service_id": service_id,
            "ticket_id": rng.randint(1, sizes.tickets) if rng.random() < 0.6 else None,
            "status": status,
            "client_notice_at": notice,
            "monitoring_start_at": monitoring_start,
            "monitoring_end_at": monitoring_end,
            "confirmed_at": confirmed,
            "layer": layer,
            "rejected_reason": ("not reproduced" if status is IncidentStatus.REJECTED else None),
            "restored_at": restored,
            "exclusion": exclusion,
            "restoration_type": restoration,
            "data_loss": status is IncidentStatus.CONFIRMED and rng.random() < 0.01,
            "monitoring_ref": f"alert-{i}" if monitored else None,
            "created_at": notice,
        }


def maintenance_rows(
    rng: random.Random, sizes: Sizes, start: datetime, end: datetime
) -> Iterator[Row]:
    for i in range(1, sizes.maintenance_windows + 1):
        begins = _between(rng, start, end - timedelta(hours=6))
        yield {
            "id": i,
            "service_id": None if i % 5 == 0 else rng.randint(1, sizes.services),
            "starts_at": begins,
            "ends_at": begins + timedelta(hours=rng.uniform(1, 4)),
            "description": "planned works",
            "created_by": None,
            "created_at": begins - timedelta(days=3),
            "cancelled_at": begins - timedelta(days=1) if i % 7 == 0 else None,
        }


def claim_rows(rng: random.Random, sizes: Sizes, month: str, end: datetime) -> Iterator[Row]:
    chosen = rng.sample(range(1, sizes.services + 1), k=max(sizes.services // 100, 1))
    for i, service_id in enumerate(sorted(chosen), start=1):
        yield {
            "id": i,
            "service_id": service_id,
            "month": month,
            "contact_id": None,
            "claimed_at": end + timedelta(days=1),
        }


# -- one month --------------------------------------------------------------------------------


def fill_month(
    target: Path | str, month: str, sizes: Sizes, *, now: datetime | None = None, seed: int = 1
) -> dict[str, int]:
    """One month of evidence in a fresh database (a SQLite file, or an empty database named
    by a PostgreSQL URL: `create_database`); returns row counts per table. The same month,
    sizes and seed give the same rows in either."""
    now = now or datetime.now(UTC)
    period = month_bounds(month, ZONE)
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    end = min(end, now)
    rng = random.Random(seed)
    engine = create_database(target)
    try:
        counts = {
            "customers": insert_chunked(engine, Customer, customer_rows(sizes.customers, start))
        }
        services = list(service_rows(rng, sizes, start, end))
        counts["services"] = insert_chunked(engine, Service, services)
        types = [row["service_type"] for row in services]
        counts["tickets"] = insert_chunked(
            engine,
            Ticket,
            ticket_rows(rng, sizes.tickets, sizes.services, start, end, now),
        )
        counts["incidents"] = insert_chunked(
            engine, Incident, incident_rows(rng, sizes, types, start, end, now)
        )
        counts["maintenance_windows"] = insert_chunked(
            engine, MaintenanceWindow, maintenance_rows(rng, sizes, start, end)
        )
        counts["credit_claims"] = insert_chunked(
            engine, CreditClaim, claim_rows(rng, sizes, month, end)
        )
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                # Fresh statistics for the planner, as autovacuum would give later.
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE"
                )
    finally:
        engine.dispose()
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description="Fill a new SQLite database (or an empty PostgreSQL one) with one month "
        "of synthetic SLA evidence.",
    )
    parser.add_argument(
        "--db", required=True, help="SQLite file to create, or the URL of an empty database "
        "(postgresql+asyncpg://user@host:port/name)",
    )  # fmt: skip
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets (default 10000)")
    parser.add_argument("--services", type=int, help="services (default tickets / 10)")
    parser.add_argument("--incidents", type=int, help="incidents (default tickets / 10)")
    parser.add_argument("--month", help="YYYY-MM (default: the previous month in Asia/Almaty)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--now", type=datetime.fromisoformat, help="generate as of this moment (ISO 8601 with "
        "an offset; default: now): evidence after it is left out, so the same moment gives the "
        "same rows",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target: Path | str = args.db if "://" in args.db else Path(args.db)
    if isinstance(target, Path) and target.exists():
        print(f"error: {args.db} exists; generation needs a new file", file=sys.stderr)
        return 2
    default = Sizes.for_tickets(args.tickets)
    sizes = Sizes(
        services=args.services or default.services,
        tickets=args.tickets,
        incidents=args.incidents or default.incidents,
    )
    month = args.month or previous_month(datetime.now(UTC), ZONE)
    started = time.perf_counter()
    counts = fill_month(target, month, sizes, now=args.now, seed=args.seed)
    elapsed = time.perf_counter() - started
    shown = make_url(args.db).render_as_string() if isinstance(target, str) else args.db
    print(f"{shown}: month {month}, " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(f"generated in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
