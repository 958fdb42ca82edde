"""Live-clock scan cost: the same 1,000 open tickets with a small vs a large closed history.

Why: the bot runs ``SlaClockScanner.scan`` every few seconds; its cost must follow the open
work, not the years of closed tickets behind it (that is what the index
``ix_tickets_status_response`` is for). The baseline is the same scan over the same open
tickets with a small history, in the same run: the ratio large / small should be near 1.

    python -m bench.timer_scan              # 10k vs 200k closed tickets
    python -m bench.timer_scan --full       # 10k vs 1M closed tickets
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import machine_summary, median, table
from bench.generate import (
    Row,
    Sizes,
    create_database,
    customer_rows,
    insert_chunked,
    ticket_rows,
)
from crm.alerts import RaisedAlert, SlaClockScanner
from crm.db import make_engine, make_sessionmaker
from crm.models import Customer, Incident, Service, SlaAlert, Ticket, TicketStatus
from sla import SlaConfig
from sla.model import Channel, IncidentStatus, Layer, RestorationType, ServiceType

OPEN_TICKETS = 1000
SERVICES = 1000
RUNNING_INCIDENTS = 50
QUICK_CLOSED = (10_000, 200_000)
FULL_CLOSED = (10_000, 1_000_000)
NEAR_ONE = 1.5
# When the first-response alerts fall due for a 10-minute target (warning with 30 % left).
ALERT_THRESHOLDS = (
    ("warning", timedelta(minutes=7)),
    ("breach", timedelta(minutes=10)),
    ("escalation", timedelta(minutes=20)),
)  # "near 1": within 50 % whatever the history


def services(rng: random.Random, created: datetime) -> Iterator[Row]:
    for i in range(1, SERVICES + 1):
        kind = ServiceType.DEDICATED if i % 2 else ServiceType.OBJECT_STORAGE
        yield {
            "id": i,
            "customer_id": (i - 1) // 2 + 1,
            "service_type": kind,
            "name": f"{kind.value}-{i}",
            "monthly_fee": Decimal(rng.randrange(10_000, 500_000, 500)),
            "currency": "KZT",
            "active_from": created,
            "active_to": None,
            "in_provider_dc": True,
            "created_at": created,
        }


def open_tickets(rng: random.Random, now: datetime, first_id: int) -> Iterator[Row]:
    """Unanswered, opened over the last 25 minutes: some before their warning, some past
    it, past the 10-minute deadline, and past the escalation (twice the target)."""
    for number in range(first_id, first_id + OPEN_TICKETS):
        opened = now - timedelta(minutes=rng.uniform(0, 25))
        yield {
            "id": number,
            "channel": Channel.TELEGRAM,
            "category": None,
            "status": TicketStatus.OPEN,
            "customer_id": None,
            "contact_id": None,
            "service_id": rng.randint(1, SERVICES),
            "client_chat_id": 600_000 + number,
            "opened_at": opened,
            "response_due_at": opened + timedelta(minutes=10),
            "emergency": False,
            "first_response_at": None,
            "resolved_at": None,
            "closed_at": None,
            "assignee_telegram_id": None,
            "assignee_name": None,
            "support_chat_id": None,
            "topic_thread_id": None,
            "header_message_id": None,
            "rating": None,
            "created_at": opened,
        }


def closed_tickets(
    rng: random.Random, count: int, now: datetime, alerts: list[Row]
) -> Iterator[Row]:
    """A year of answered, resolved and closed tickets (the history the scan must skip),
    with the alerts their late answers raised at the time (appended to ``alerts``): the
    scan's look-up of already raised alerts must not grow with those either."""
    start = now - timedelta(days=365)
    for row in ticket_rows(rng, count, SERVICES, start, now - timedelta(days=4), now):
        if row["first_response_at"] is None:
            row["first_response_at"] = row["opened_at"] + timedelta(minutes=5)
        if row["resolved_at"] is None:
            row["resolved_at"] = row["first_response_at"] + timedelta(hours=1)
        row["closed_at"] = row["closed_at"] or row["resolved_at"] + timedelta(hours=1)
        row["status"] = TicketStatus.CLOSED
        if row["channel"] is Channel.TELEGRAM:
            waited = row["first_response_at"] - row["opened_at"]
            for kind, after in ALERT_THRESHOLDS:
                if waited >= after:
                    due = row["opened_at"] + after
                    alerts.append(
                        {
                            "subject": "response",
                            "subject_id": row["id"],
                            "kind": kind,
                            "due_at": due,
                            "raised_at": due,
                            "late": False,
                        }
                    )
        yield row


def incidents(rng: random.Random, now: datetime, restored: int) -> Iterator[Row]:
    """A few running restorations (confirmed, not restored) and a history of restored ones."""
    for i in range(1, RUNNING_INCIDENTS + restored + 1):
        running = i <= RUNNING_INCIDENTS
        confirmed = now - timedelta(minutes=rng.uniform(1, 600 if running else 300_000))
        yield {
            "id": i,
            "service_id": rng.randrange(1, SERVICES, 2),  # odd ids are dedicated
            "ticket_id": None,
            "status": IncidentStatus.CONFIRMED,
            "client_notice_at": confirmed - timedelta(minutes=5),
            "monitoring_start_at": None,
            "monitoring_end_at": None,
            "confirmed_at": confirmed,
            "layer": Layer.HARDWARE,
            "rejected_reason": None,
            "restored_at": None if running else confirmed + timedelta(minutes=30),
            "exclusion": None,
            "restoration_type": RestorationType.REBOOT if i % 2 else RestorationType.REPAIR,
            "data_loss": False,
            "monitoring_ref": None,
            "created_at": confirmed,
        }


def build(path: Path, closed: int, now: datetime, seed: int) -> int:
    """Returns the number of historical alerts written."""
    # Separate generators: the open work is identical whatever the size of the history.
    open_rng, history_rng = random.Random(seed), random.Random(seed + 1)
    engine = create_database(path)
    alerts: list[Row] = []
    try:
        created = now - timedelta(days=800)
        insert_chunked(engine, Customer, customer_rows(SERVICES // 2, created))
        insert_chunked(engine, Service, services(open_rng, created))
        insert_chunked(engine, Ticket, closed_tickets(history_rng, closed, now, alerts))
        insert_chunked(engine, Ticket, open_tickets(open_rng, now, closed + 1))
        restored = Sizes.for_tickets(closed).incidents
        insert_chunked(engine, Incident, incidents(open_rng, now, restored))
        insert_chunked(engine, SlaAlert, alerts)
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return len(alerts)


Statement = tuple[str, Any]


@dataclass
class ScanTimes:
    raising: list[float]  # each scan raises every due alert (rolled back after)
    steady: list[float]  # the due alerts are already raised: the read cost alone
    raised: Counter[str]
    selects: list[Statement]


class Scanner:
    """One database's engine and the scan as the bot runs it, timed."""

    def __init__(self, path: Path, now: datetime) -> None:
        self.engine = make_engine(f"sqlite+aiosqlite:///{path}")
        self.sessionmaker = make_sessionmaker(self.engine)
        self.now = now
        self.times = ScanTimes([], [], Counter(), [])

    def _record(self, _conn: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.times.selects.append((statement, parameters))

    async def scan(self, commit: bool = False) -> tuple[float, list[RaisedAlert]]:
        async with self.sessionmaker() as session:
            started = time.perf_counter()
            alerts = await SlaClockScanner(session, SlaConfig()).scan(self.now)
            elapsed = time.perf_counter() - started
            await (session.commit() if commit else session.rollback())
        return elapsed, alerts

    async def warm_up(self) -> None:
        """The first scan, untimed, recording the SELECTs it runs and what it raises."""
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)
        _, alerts = await self.scan()
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)
        self.times.raised = Counter(f"{a.subject} {a.kind}" for a in alerts)


async def time_scans(paths: Sequence[Path], now: datetime, repeat: int) -> list[ScanTimes]:
    """Scans of the databases interleaved (A B A B ...), so the drift of a shared machine
    hits every size alike. First ``repeat`` rounds where each scan raises every due alert
    (rolled back, so the next raises them again); then one scan per database is committed
    and ``repeat`` more rounds measure the steady state, when nothing new is due: the read
    cost alone."""
    scanners = [Scanner(path, now) for path in paths]
    try:
        for scanner in scanners:
            await scanner.warm_up()
        for _ in range(repeat):
            for scanner in scanners:
                scanner.times.raising.append((await scanner.scan())[0])
        for scanner in scanners:
            await scanner.scan(commit=True)
        for _ in range(repeat):
            for scanner in scanners:
                scanner.times.steady.append((await scanner.scan())[0])
    finally:
        for scanner in scanners:
            await scanner.engine.dispose()
    return [scanner.times for scanner in scanners]


async def query_plans(path: Path, statements: list[Statement]) -> list[str]:
    """SQLite's plan for each SELECT the scan ran: a "SCAN tickets" here would mean the
    cost follows the history."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}", reads_only=True)
    plans = []
    try:
        async with engine.connect() as connection:
            for statement, parameters in statements:
                rows = await connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters
                )
                found = re.search(r"\bFROM\s+(\w+)", statement)
                table_name = found.group(1) if found else "?"
                plans.append(f"{table_name}: " + "; ".join(str(row[-1]) for row in rows))
    finally:
        await engine.dispose()
    return plans


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = args.closed or (FULL_CLOSED if args.full else QUICK_CLOSED)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-scan-", dir=args.tmp_dir))
    try:
        return run(args, sizes, data_dir)
    finally:
        if args.keep:
            print(f"\nkept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, sizes: Sequence[int], data_dir: Path) -> int:
    print(machine_summary(data_dir))
    print(
        f"open work: {OPEN_TICKETS:,} unanswered tickets opened over the last 25 min, "
        f"{RUNNING_INCIDENTS} running restorations; closed history: "
        + " vs ".join(f"{s:,}" for s in sizes)
        + " tickets (+ restored incidents, 1/10 of that)"
    )
    now = datetime.now(UTC)
    paths = []
    for closed in sizes:
        path = data_dir / f"scan-{closed}.db"
        print(f"generating {closed:,} closed tickets ...", flush=True)
        started = time.perf_counter()
        alerts = build(path, closed, now, args.seed)
        print(
            f"  generated in {time.perf_counter() - started:.1f} s "
            f"(with {alerts:,} alerts raised in the past)"
        )
        paths.append(path)
    print(f"\nscanning, sizes interleaved, {args.repeat} rounds each way ...", flush=True)
    timed = asyncio.run(time_scans(paths, now, args.repeat))
    results = list(zip(sizes, timed, strict=True))
    for (closed, times), path in zip(results, paths, strict=True):
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(times.raised.items()))
        print(f"\n{closed:,} closed: alerts per raising scan: {kinds}")
        print("  query plans of the scan's SELECTs:")
        for plan in asyncio.run(query_plans(path, times.selects)):
            print(f"    {plan}")

    print(f"\nresults (median and min of {args.repeat} scans after one warm-up, ms)")
    rows = [
        [
            f"{closed:,}",
            f"{median(t.raising) * 1000:.1f}",
            f"{min(t.raising) * 1000:.1f}",
            f"{median(t.steady) * 1000:.1f}",
            f"{min(t.steady) * 1000:.1f}",
        ]
        for closed, t in results
    ]
    print(
        table(
            ["closed tickets", "raising median", "raising min", "steady median", "steady min"],
            rows,
        )
    )
    (small, first), (large, last) = results[0], results[-1]
    print(f"\nratio {large:,} / {small:,} closed tickets (history {large / small:.0f}x larger):")
    for label, before, after in (
        ("scan raising the due alerts", first.raising, last.raising),
        ("steady scan (read cost alone)", first.steady, last.steady),
    ):
        ratio = median(after) / median(before)
        verdict = "near 1" if ratio < NEAR_ONE else "grows with the history"
        print(f"  {label}: {ratio:.2f} ({verdict}; min/min {min(after) / min(before):.2f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timer_scan",
        description="Time SlaClockScanner.scan over 1,000 open tickets with a small and a "
        "large history of closed tickets; the ratio should be near 1.",
    )
    parser.add_argument("--full", action="store_true", help="10k vs 1,000,000 closed tickets")
    parser.add_argument(
        "--closed", type=int, nargs="+", help="closed-ticket counts (overrides --full)"
    )
    parser.add_argument("--repeat", type=int, default=9, help="timed scans per size (9)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tmp-dir", help="where the databases go (default: TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    return parser


if __name__ == "__main__":
    sys.exit(main())
