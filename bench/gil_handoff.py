"""A query's rows beside a busy event loop: the bot's GIL switch interval against Python's.

Why: the bot reads SQLite through aiosqlite, whose thread gives up the GIL at every row and
must take it back from the thread running the event loop. When the loop is busy (a storm,
a burst: handlers one after another), the loop gives the GIL up at each turn and takes it
straight back, which restarts the waiting thread's switch interval; with Python's 5 ms
that thread can wait for seconds per query. `bot.app.SWITCH_INTERVAL_SECONDS` is what the
bot sets instead. This benchmark reads N rows through the bot's own engine
(`crm.db.make_engine`, SQLAlchemy over aiosqlite) with the loop idle, then while
coroutines that stand for handlers run `--stretch-ms` of Python between two awaits, under
each interval in turn (interleaved), and prints the medians and the ratio.

    python -m bench.gil_handoff
    python -m bench.gil_handoff --rows 1 100 --stretch-ms 0.5 2 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import load_average, machine_summary, median, table
from bot.app import SWITCH_INTERVAL_SECONDS
from crm.db import make_engine

PYTHON_DEFAULT = 0.005


async def _handler(stretch: float, stop: asyncio.Event) -> None:
    """Stands for a handler: `stretch` seconds of Python between two awaits, again and again."""
    clock = time.perf_counter
    while not stop.is_set():
        started = clock()
        while clock() - started < stretch:
            pass
        await asyncio.sleep(0)


async def _read(engine: AsyncEngine, rows: int) -> float:
    started = time.perf_counter()
    async with engine.connect() as connection:
        fetched = (await connection.execute(text(f"SELECT * FROM rows LIMIT {rows}"))).all()
    if len(fetched) != rows:
        raise RuntimeError(f"read {len(fetched)} rows, not {rows}")
    return time.perf_counter() - started


async def measure(engine: AsyncEngine, rows: int, stretch: float | None) -> float:
    """Seconds to read `rows` rows: with the loop idle (`stretch` None) or beside two
    handler stand-ins."""
    if stretch is None:
        return await _read(engine, rows)
    stop = asyncio.Event()
    handlers = [asyncio.create_task(_handler(stretch, stop)) for _ in range(2)]
    await asyncio.sleep(0.05)
    try:
        return await _read(engine, rows)
    finally:
        stop.set()
        await asyncio.gather(*handlers)


async def run(args: argparse.Namespace, database: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(
            text("INSERT INTO rows (body) VALUES (:body)"),
            [{"body": f"message {n} " * 8} for n in range(max(args.rows))],
        )
    intervals = (PYTHON_DEFAULT, SWITCH_INTERVAL_SECONDS)
    results = []
    for rows in args.rows:
        for stretch_ms in (None, *args.stretch_ms):
            stretch = None if stretch_ms is None else stretch_ms / 1000
            times: dict[float, list[float]] = {interval: [] for interval in intervals}
            for _ in range(args.repeat):
                for interval in intervals:  # interleaved: drift hits both alike
                    sys.setswitchinterval(interval)
                    times[interval].append(await measure(engine, rows, stretch))
            default, ours = (median(times[interval]) for interval in intervals)
            loop = "idle" if stretch_ms is None else f"busy, {stretch_ms:g} ms stretches"
            results.append(
                (rows, loop, f"{default * 1000:.1f}", f"{ours * 1000:.1f}", f"{ours / default:.3f}")
            )
    sys.setswitchinterval(PYTHON_DEFAULT)
    await engine.dispose()
    print(
        table(
            (
                "rows",
                "event loop",
                f"{PYTHON_DEFAULT * 1000:g} ms (Python) ms",
                f"{SWITCH_INTERVAL_SECONDS * 1000:g} ms (bot) ms",
                "bot / Python",
            ),
            results,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--stretch-ms", type=float, nargs="+", default=[2.0],
        help="a handler stand-in's Python between two awaits, ms (2)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; median (3)")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as directory:
        data_dir = Path(directory)
        print(machine_summary(data_dir))
        print(
            f"switch intervals: Python's {PYTHON_DEFAULT * 1000:g} ms, the bot's "
            f"{SWITCH_INTERVAL_SECONDS * 1000:g} ms; 2 handler stand-ins when busy\n"
        )
        asyncio.run(run(args, data_dir / "rows.db"))
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
