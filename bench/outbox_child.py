"""One outbox measurement, run as a script by ``bench/outbox.py`` with the code under test
first on ``PYTHONPATH`` (so the same measurement runs against an older commit too).

It fills a migrated SQLite file with a backlog of pending rows (half texts to private chats,
half copies into forum topics of the support group), runs the real ``OutboxWorker`` against
a stub bot that answers at once, and prints one JSON line: rows delivered, CPU seconds of
this process while delivering, wall seconds. Only the APIs both old and new code share are
used (the worker's constructor, ``run``/``drain``/``stop``, ``bot.telegram.make_bot``, the
migrations).

With ``--api`` the worker sends through the real Bot API client of the code under test
(``make_bot``: aiogram, its session, aiohttp) to a minimal Bot API in a child process
(``--serve``), which answers every request at once with what Telegram answers on success
(a ``Message`` for ``sendMessage``, a ``MessageId`` for ``copyMessage``); its CPU is not
counted. This is the cost a burst pays per send, request and answer included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
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


async def serve() -> None:
    """A minimal Bot API over HTTP/1.1 keep-alive: every call succeeds at once."""
    counter = iter(range(1, 1 << 62))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            message_id = next(counter)
            if path.endswith("/copyMessage"):
                result: dict[str, Any] = {"message_id": message_id}
            else:
                result = {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": SUPPORT_CHAT_ID, "type": "supergroup", "title": "Support"},
                    "from": {"id": 42, "is_bot": True, "first_name": "Support"},
                    "text": "a text of the usual length, as a ticket's notice would be",
                }
            body = json.dumps({"ok": True, "result": result}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


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


async def measure(args: argparse.Namespace, path: Path, api_port: int | None) -> dict[str, Any]:
    from bot.outbox import OutboxWorker, RateLimits
    from crm.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessionmaker = make_sessionmaker(engine)
    limits = RateLimits(args.overall, args.private, args.group)
    stub = StubBot()
    bot: Any = stub
    if api_port is not None:
        from bot.telegram import make_bot

        bot = make_bot("42:TEST", f"http://127.0.0.1:{api_port}", attempts=1)
    worker = OutboxWorker(
        bot,
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
    if api_port is not None:
        await bot.session.close()
    return {"delivered": sent(path), "calls": stub.calls, "cpu": cpu, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=0)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--overall", type=float, default=1e6)
    parser.add_argument("--private", type=float, default=1e6)
    parser.add_argument("--group", type=float, default=1e9)
    parser.add_argument("--seconds", type=float, default=0, help="run this long (0: drain)")
    parser.add_argument("--tmp-dir")
    parser.add_argument("--api", action="store_true", help="send through make_bot to --serve")
    parser.add_argument("--serve", action="store_true", help="be the minimal Bot API")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    from crm.db import upgrade_database

    with tempfile.TemporaryDirectory(prefix="bench-outbox-", dir=args.tmp_dir) as tmp:
        path = Path(tmp) / "outbox.db"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        fill(path, args.backlog, args.chats, args.topics)
        server: subprocess.Popen[str] | None = None
        port: int | None = None
        if args.api:
            command = [sys.executable, __file__, "--serve"]
            server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            assert server.stdout is not None
            port = int(server.stdout.readline())
        try:
            print(json.dumps(asyncio.run(measure(args, path, port))))
        finally:
            if server is not None:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    main()
