"""One outbox measurement, run as a script by ``bench/outbox.py`` with the code under test
first on ``PYTHONPATH`` (so the same measurement runs against an older commit too).

It fills a migrated SQLite file with a backlog of pending rows (half texts to private chats,
half copies into forum topics of the support group), runs the real ``OutboxWorker`` against
a stub bot that answers at once, and prints one JSON line: rows delivered, CPU seconds of
this process while delivering, wall seconds. Only the APIs both old and new code share are
used (the worker's constructor, ``run``/``drain``/``stop``, the migrations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SUPPORT_CHAT_ID = -1001234567890
FIRST_CLIENT = 910_000


class StubBot:
    """Answers every call at once, like a Bot API with no latency."""

    def __init__(self) -> None:
        self.calls = 0

    def _answer(self) -> SimpleNamespace:
        self.calls += 1
        return SimpleNamespace(message_id=self.calls, message_thread_id=None)

    async def send_message(self, chat_id: int, **_: Any) -> SimpleNamespace:
        return self._answer()

    async def __call__(self, method: Any, request_timeout: int | None = None) -> SimpleNamespace:
        return self._answer()  # a method object (newer code sends some that way)

    async def copy_message(self, chat_id: int, **_: Any) -> SimpleNamespace:
        return self._answer()


def fill(path: Path, backlog: int, chats: int, topics: int) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO tickets (id, channel, status, opened_at, emergency, created_at, "
        "support_chat_id, topic_thread_id) VALUES (?, 'telegram', 'open', ?, 0, ?, ?, ?)",
        [(t, now, now, SUPPORT_CHAT_ID, 5000 + t) for t in range(1, topics + 1)],
    )
    rows: list[tuple[int, str, str, str, int | None, int]] = []
    for i in range(backlog):
        if i % 2:
            chat = FIRST_CLIENT + (i // 2) % chats
            rows.append((chat, "sendMessage", "notice", json.dumps({"text": f"m{i}"}), None, 0))
        else:
            ticket = (i // 2) % topics + 1
            payload = json.dumps({"from_chat_id": FIRST_CLIENT, "message_id": i + 1})
            rows.append((SUPPORT_CHAT_ID, "copyMessage", "copy_in", payload, ticket, 1))
    db.executemany(
        "INSERT INTO outbox (chat_id, method, purpose, payload, ticket_id, to_topic, status, "
        f"attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, '{now}')",
        rows,
    )
    db.commit()
    db.close()


def sent(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0])
    finally:
        db.close()


async def measure(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    from bot.outbox import OutboxWorker, RateLimits
    from crm.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessionmaker = make_sessionmaker(engine)
    limits = RateLimits(args.overall, args.private, args.group)
    bot = StubBot()
    worker = OutboxWorker(
        bot,  # type: ignore[arg-type]
        sessionmaker,
        None,  # type: ignore[arg-type]  # only failures are worded
        "en",
        limits,
        write_gate=asyncio.Lock(),
    )
    cpu = time.process_time()
    wall = time.perf_counter()
    if args.seconds:
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(args.seconds)
        worker.stop()
        await task
    else:
        await worker.drain(timeout=3600)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    await engine.dispose()
    return {"delivered": sent(path), "calls": bot.calls, "cpu": cpu, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, required=True)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--overall", type=float, default=1e6)
    parser.add_argument("--private", type=float, default=1e6)
    parser.add_argument("--group", type=float, default=1e9)
    parser.add_argument("--seconds", type=float, default=0, help="run this long (0: drain)")
    parser.add_argument("--tmp-dir")
    args = parser.parse_args()
    from crm.db import upgrade_database

    with tempfile.TemporaryDirectory(prefix="bench-outbox-", dir=args.tmp_dir) as tmp:
        path = Path(tmp) / "outbox.db"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        fill(path, args.backlog, args.chats, args.topics)
        print(json.dumps(asyncio.run(measure(args, path))))


if __name__ == "__main__":
    main()
