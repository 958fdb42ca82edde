"""SQLite statements through the bot's engine: one trip each to aiosqlite's thread
(`crm/sqlite_driver.py`) against SQLAlchemy's own aiosqlite cursor (three or four trips).

Each unit is what an update does in small: a SAVEPOINT, an INSERT ... RETURNING, a SELECT
by id, an UPDATE and the RELEASE, in a transaction of `--units` such units (a polled
batch's slice). Both engines are the bot's own (`crm.db.make_engine`: WAL, BEGIN
IMMEDIATE); the baseline's connections are put back to SQLAlchemy's cursor. The rounds are
interleaved, and it prints each side's CPU (both threads) and wall time per unit, the trips
it made to aiosqlite's thread, and the ratios.

    python -m bench.sqlite_trips
    python -m bench.sqlite_trips --units 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import load_average, machine_summary, median, table
from crm.db import make_engine


def _engine(database: Path, *, one_trip: bool) -> AsyncEngine:
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    if not one_trip:

        @event.listens_for(engine.sync_engine, "connect")
        def _stock_cursor(dbapi_connection: Any, _record: Any) -> None:
            # After make_engine's own listener: SQLAlchemy's adapter as it ships.
            dbapi_connection.__class__ = AsyncAdapt_aiosqlite_connection

    return engine


class TripCounter:
    """Counts the calls run in aiosqlite's thread (each a queue put and a wake-up)."""

    def __init__(self) -> None:
        self.trips = 0
        self._execute: Callable[..., Any] = aiosqlite.Connection._execute

    def __enter__(self) -> TripCounter:
        execute = self._execute

        async def counted(connection: aiosqlite.Connection, fn: Any, *args: Any) -> Any:
            self.trips += 1
            return await execute(connection, fn, *args)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        aiosqlite.Connection._execute = self._execute  # type: ignore[method-assign]


async def _prepare(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT, seen INTEGER)")
        )


async def _units(engine: AsyncEngine, units: int) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and trips for `units` units in one transaction."""
    with TripCounter() as counter:
        cpu, wall = time.process_time(), time.perf_counter()
        async with engine.begin() as connection:
            for n in range(units):
                async with connection.begin_nested():
                    inserted = await connection.execute(
                        text("INSERT INTO things (name, seen) VALUES (:name, 0) RETURNING id"),
                        {"name": f"client {n}"},
                    )
                    thing = inserted.scalar_one()
                    row = (
                        await connection.execute(
                            text("SELECT name, seen FROM things WHERE id = :id"), {"id": thing}
                        )
                    ).one()
                    await connection.execute(
                        text("UPDATE things SET seen = :seen WHERE id = :id"),
                        {"seen": row.seen + 1, "id": thing},
                    )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, counter.trips


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    engines = {
        "SQLAlchemy's cursor": _engine(data_dir / "stock.db", one_trip=False),
        "one trip (bot)": _engine(data_dir / "one_trip.db", one_trip=True),
    }
    for engine in engines.values():
        await _prepare(engine)
        await _units(engine, 50)  # warm: connection, compiled statements
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    wall: dict[str, list[float]] = {name: [] for name in engines}
    trips: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, engine in engines.items():  # interleaved: drift hits both alike
            spent, took, made = await _units(engine, args.units)
            cpu[name].append(spent / args.units)
            wall[name].append(took / args.units)
            trips[name] = made
    for engine in engines.values():
        await engine.dispose()
    rows = [
        (
            name,
            f"{median(cpu[name]) * 1e6:.0f}",
            f"{median(wall[name]) * 1e6:.0f}",
            f"{trips[name] / args.units:.1f}",
        )
        for name in engines
    ]
    print(table(("cursor", "CPU µs per unit", "wall µs per unit", "trips per unit"), rows))
    stock, ours = engines
    print(
        f"\none trip / SQLAlchemy's cursor: CPU {median(cpu[ours]) / median(cpu[stock]):.2f}, "
        f"wall {median(wall[ours]) / median(wall[stock]):.2f} "
        f"(medians of {args.repeat} interleaved rounds of {args.units} units)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1000, help="units per round (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per side; median (3)")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as directory:
        data_dir = Path(directory)
        print(machine_summary(data_dir))
        print("unit: SAVEPOINT, INSERT ... RETURNING, SELECT by id, UPDATE, RELEASE\n")
        asyncio.run(run(args, data_dir))
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
