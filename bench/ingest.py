"""Ingest burst: N client messages from M clients pushed at once to the real ``python -m bot``.

Why: the desk must record every client message durably (committed in SQLite) and copy it to
the support group fast enough that a burst (an outage makes everyone write at once) neither
loses messages nor leaves engineers looking at a stale topic. The figure that matters is
messages committed per second, compared with what the same disk does for the simplest
possible durable write (one INSERT + COMMIT per row with aiosqlite, same pragmas): a ratio
below 1 means the bot spends more per message than the disk forces it to.

The same burst is then pushed to a plain relay bot (``bench/relay_bot.py``: aiogram
``start_polling``, an ORM session per message, one insert, one ``forward_message``) on the
same disk, in the same invocation: the desk does much more per message, and the ratio says
what that costs.

    python -m bench.ingest                  # 2,000 messages from 400 clients
    python -m bench.ingest --full           # 5,000 messages from 1,000 clients
    python -m bench.ingest --before 7184c6b # the same burst to an older commit first
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.common import (
    add_worktree,
    find_py_spy,
    load_average,
    machine_summary,
    percentile,
    remove_worktree,
    summarize_collapsed,
    table,
    verdict,
)
from crm.db import make_engine
from crm.models import Base
from tests.db import POSTGRES_ENV, create_database, drop_database
from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess
from tests.fake_bot_api import FakeBotAPI

GOAL_RATE = 2000.0  # messages durably recorded per second
GOAL_RATIO = 1.0  # recorded rate / raw single-row insert rate
GOAL_COPY_AFTER = 5.0  # seconds from the last message recorded to its copy in the group
FIRST_CLIENT = 810_000
MARKER = re.compile(r"\bbench-m(\d+)\b")
# The bot, the fake Bot API and this script share them (`print_machine_ceiling`).
CORES = os.cpu_count() or 1
# High enough that the outbox never waits for a budget: this measures the desk, not the
# limits Telegram imposes (30/s overall, 1/s per private chat, 20/min per group).
RAISED_LIMITS = {
    "OUTBOX_OVERALL_PER_SECOND": "1000000",
    "OUTBOX_PRIVATE_PER_SECOND": "1000000",
    "OUTBOX_GROUP_PER_MINUTE": "1000000000",
}
BOT_ENV = {
    "POLLING_TIMEOUT_SECONDS": "1",
    "SEND_BACKOFF_SECONDS": "0.1",
    "SHUTDOWN_GRACE_SECONDS": "10",
    **RAISED_LIMITS,
}
LOCKED = "database is locked"
# aiogram.types alone takes seconds to import on a busy 2-core machine.
START_TIMEOUT = 120.0
# Read from an engine made by crm/db.py and applied to the baseline, so both write under the
# same durability settings even if make_engine changes.
PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "wal_autocheckpoint")


# -- baseline ---------------------------------------------------------------------------------


async def bot_pragmas(path: Path) -> dict[str, str]:
    """The pragmas in force on a connection of crm/db.py's engine (whatever it sets now)."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            return {
                name: str((await connection.exec_driver_sql(f"PRAGMA {name}")).scalar())
                for name in PRAGMAS
            }
    finally:
        await engine.dispose()


async def raw_insert_rate(path: Path, rows: int, pragmas: dict[str, str]) -> float:
    """Single-row committed inserts per second into the real messages table (its schema,
    indexes and unique constraint), through aiosqlite with the bot's pragmas."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    async with aiosqlite.connect(path, timeout=30) as db:
        for name, value in pragmas.items():
            await db.execute(f"PRAGMA {name}={value}")
        await db.execute(
            "INSERT INTO tickets (id, channel, status, opened_at, emergency, created_at) "
            "VALUES (1, 'telegram', 'open', ?, 0, ?)",
            (now, now),
        )
        await db.commit()
        sql = (
            "INSERT INTO messages (ticket_id, direction, sender_telegram_id, chat_id, "
            "telegram_message_id, update_id, content_type, text, file_ids, telegram_date, "
            "received_at, delivery) VALUES (1, 'from_client', ?, ?, ?, ?, 'text', ?, '[]', ?, ?, "
            "'pending')"
        )
        started = time.perf_counter()
        for i in range(rows):
            chat = FIRST_CLIENT + i % 997
            await db.execute(sql, (chat, chat, i + 1, i + 1, f"bench-m{i}", now, now))
            await db.commit()
        elapsed = time.perf_counter() - started
    return rows / elapsed


# -- the burst --------------------------------------------------------------------------------


@dataclass
class Burst:
    updates: list[dict[str, Any]]
    #: (client chat id, Telegram message id) -> message index
    keys: dict[tuple[int, int], int]
    pushed_at: list[float] = field(default_factory=list)


def build_burst(api: FakeBotAPI, messages: int, clients: int) -> Burst:
    """Round-robin over clients, as if they all typed at once; each text carries a marker
    so a merged sendMessage still tells which messages it carries."""
    date = int(time.time())
    updates: list[dict[str, Any]] = []
    keys: dict[tuple[int, int], int] = {}
    for i in range(messages):
        client = i % clients
        user = FIRST_CLIENT + client
        update = api.private_message(
            user, f"bench-m{i} from client {client}", first_name=f"Client {client}", date=date
        )
        keys[(user, int(update["message"]["message_id"]))] = i
        updates.append(update)
    return Burst(updates, keys)


def push(api: FakeBotAPI, burst: Burst) -> None:
    """All at once: no await in between, so the bot sees the whole burst queued."""
    for update in burst.updates:
        api.push_update(update)
        burst.pushed_at.append(time.time())


class RecordCounter:
    """Counts committed client messages from a read-only connection (WAL: never blocks the
    bot's writer), or an autocommit one on PostgreSQL (``postgres``: the bot's database URL)."""

    def __init__(
        self,
        path: Path,
        sql: str = "SELECT COUNT(*) FROM messages WHERE direction = 'from_client'",
        postgres: str | None = None,
    ) -> None:
        self.sql = sql
        self.connection: Any
        if postgres is not None:
            import psycopg

            dsn = make_url(postgres).set(drivername="postgresql")
            self.connection = psycopg.connect(
                dsn.render_as_string(hide_password=False), autocommit=True
            )
            return
        self.connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False
        )

    def count(self) -> int:
        row = self.connection.execute(self.sql).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.connection.close()


async def wait_recorded(
    counter: RecordCounter, expected: int, timeout: float, interval: float
) -> tuple[int, float | None, list[tuple[float, int]]]:
    """Polls the count; returns the last count, when it reached ``expected`` (None if it did
    not within ``timeout``) and the samples."""
    samples: list[tuple[float, int]] = []
    deadline = time.time() + timeout
    count = 0
    while time.time() < deadline:
        count = await asyncio.to_thread(counter.count)
        now = time.time()
        samples.append((now, count))
        if count >= expected:
            return count, now, samples
        await asyncio.sleep(interval)
    return count, None, samples


@dataclass
class Deliveries:
    #: message index -> time of the first group request carrying it
    first_seen: dict[int, float]
    copies: int
    merged_messages: int
    merged_texts: int


def group_deliveries(api: FakeBotAPI, keys: dict[tuple[int, int], int]) -> Deliveries:
    """Successful requests to the support group that carry client messages: copyMessage by
    (from_chat_id, message_id), merged sendMessage by the markers in its text."""
    first_seen: dict[int, float] = {}
    copies = merged_messages = merged_texts = 0
    for request in list(api.requests):
        if request.status != "ok" or request.params.get("chat_id") != SUPPORT_CHAT_ID:
            continue
        method = request.method.lower()
        carried: list[int] = []
        if method == "copymessage":
            key = (int(request.params["from_chat_id"]), int(request.params["message_id"]))
            if key in keys:
                carried = [keys[key]]
                copies += 1
        elif method == "sendmessage":
            carried = [int(m) for m in MARKER.findall(str(request.params.get("text", "")))]
            if carried:
                merged_messages += 1
                merged_texts += len(carried)
        for index in carried:
            first_seen.setdefault(index, request.time)
    return Deliveries(first_seen, copies, merged_messages, merged_texts)


async def wait_delivered(
    api: FakeBotAPI, keys: dict[tuple[int, int], int], timeout: float
) -> Deliveries:
    deadline = time.time() + timeout
    while True:
        found = group_deliveries(api, keys)
        if len(found.first_seen) >= len(keys) or time.time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def start_py_spy(
    py_spy: str, pid: int, output: Path, mode: str
) -> asyncio.subprocess.Process:
    """``cpu`` samples only the thread holding the GIL: the Python CPU time, which limits a
    single-threaded event loop. ``wall`` samples every busy thread, so time spent inside
    SQLite (fsync, waiting for the write lock) in aiosqlite's threads shows too."""
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100"]
    # Blocking mode (pauses the bot ~100 times a second): --nonblocking makes py-spy 0.4
    # panic on half-updated code objects. Figures of a profiled run are not the benchmark's.
    command += ["--output", str(output)]
    if mode == "cpu":
        command.append("--gil")
    with output.with_suffix(".log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    await asyncio.sleep(1.0)  # attached before the burst starts
    return process


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU of a running process (Linux /proc), to show who used the 2 cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- the plain relay bot ----------------------------------------------------------------------


def enable_forward(api: FakeBotAPI) -> None:
    """The fake Bot API answers only what the desk calls; the relay baseline forwards, so
    teach this instance ``forwardMessage`` (a copy that also says where it came from)."""

    async def forward(req: Any) -> dict[str, Any]:
        source = api._copy_source(req, req.params.get("message_id"))
        chat_id, thread_id, reply_to, _markup = api._common_targets(req)
        content = api._copy_content(source, req)
        origin = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        return api._deliver(
            req,
            chat_id,
            content,
            thread_id=thread_id,
            reply_to=reply_to,
            markup=None,
            extra={"forward_origin": origin},
        )

    api._handlers["forwardmessage"] = forward


@dataclass
class RelayRun:
    recorded: int
    rate: float | None
    forwarded: int
    last_forward: float | None
    cpu: float | None
    wall: float


def forwards(api: FakeBotAPI) -> list[float]:
    return [
        r.time
        for r in list(api.requests)
        if r.status == "ok"
        and r.method.lower() == "forwardmessage"
        and r.params.get("chat_id") == SUPPORT_CHAT_ID
    ]


async def wait_forwarded(api: FakeBotAPI, messages: int, deadline: float) -> None:
    while True:
        if len(forwards(api)) >= messages or time.time() > deadline:
            return
        await asyncio.sleep(0.2)


async def run_relay(args: argparse.Namespace, data_dir: Path, pragmas: dict[str, str]) -> RelayRun:
    """The same burst through ``bench/relay_bot.py`` on a fresh SQLite file."""
    api = FakeBotAPI()
    await api.start()
    api.add_chat(SUPPORT_CHAT_ID, title="Support", is_forum=True)
    enable_forward(api)
    env = {"POLLING_TIMEOUT_SECONDS": "1", "RELAY_PRAGMAS": json.dumps(pragmas)}
    relay = BotProcess(
        api,
        data_dir,
        env=env,
        name="relay-bot",
        command=[sys.executable, "-m", "bench.relay_bot"],
        database_path=data_dir / "relay.db",
    )
    counter: RecordCounter | None = None
    try:
        await relay.start(timeout=START_TIMEOUT)
        assert relay.pid is not None
        counter = RecordCounter(relay.database_path, "SELECT COUNT(*) FROM relayed")
        burst = build_burst(api, args.messages, args.clients)
        cpu_before = process_cpu_seconds(relay.pid)
        push(api, burst)
        first = burst.pushed_at[0]
        recorded, recorded_at, _ = await wait_recorded(
            counter, args.messages, args.timeout, args.poll_interval
        )
        await wait_forwarded(api, args.messages, first + args.timeout)
        cpu_after = process_cpu_seconds(relay.pid)
        wall = time.time() - first
        await relay.stop(timeout=60)
    finally:
        if counter is not None:
            counter.close()
        if relay.running:
            relay.kill()
        await api.stop()
    seen = forwards(api)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return RelayRun(
        recorded=recorded,
        rate=args.messages / (recorded_at - first) if recorded_at is not None else None,
        forwarded=len(seen),
        last_forward=max(seen) - first if seen else None,
        cpu=cpu,
        wall=wall,
    )


def print_relay(relay: RelayRun, messages: int) -> None:
    print("\nplain relay bot (aiogram start_polling, ORM session per message, 1 insert, 1 forward)")
    if relay.rate is None:
        print(f"  recorded: only {relay.recorded} of {messages}")
    else:
        print(f"  recorded: {messages} -> {relay.rate:,.0f} msg/s")
    if relay.last_forward is not None:
        print(
            f"  forwarded: {relay.forwarded} of {messages}; the last after "
            f"{relay.last_forward:.2f} s"
        )
    if relay.cpu is not None:
        print(
            f"  CPU over {relay.wall:.1f} s wall: relay process {relay.cpu:.1f} s "
            f"({1000 * relay.cpu / messages:.2f} ms per message)"
        )


# -- the run ----------------------------------------------------------------------------------


@dataclass
class BotRun:
    """One burst through ``python -m bot`` of one tree (the current one, or ``--before``)."""

    label: str
    recorded: int
    recorded_span: float | None
    peak: float
    duplicates: int
    tickets: int
    deliveries: Deliveries
    latencies: list[float]
    last_copy: float | None
    bot_cpu: float | None
    own_cpu: float
    wall: float
    # Bot API requests the bot made during the burst, getUpdates apart (`count_requests`).
    sends: int
    polls: int
    # The bots ran on a PostgreSQL server (`--postgres`), whose CPU nobody above counts.
    on_postgres: bool
    locked: int
    errors: int
    locked_lines: list[str]
    profile: Path | None


def count_requests(api: FakeBotAPI, since: int) -> tuple[int, int]:
    """The bot's Bot API requests after the first `since`: (sends and other calls, getUpdates)."""
    made = list(api.requests)[since:]
    polls = sum(1 for request in made if request.method.lower() == "getupdates")
    return len(made) - polls, polls


async def run_bot(
    args: argparse.Namespace, data_dir: Path, label: str, tree: Path | None, profile: bool
) -> BotRun:
    """The burst through the real bot of ``tree`` (None: this one) on a fresh SQLite file."""
    api = FakeBotAPI()
    await api.start()
    api.add_chat(SUPPORT_CHAT_ID, title="Support", is_forum=True)
    env = {**BOT_ENV, "LOG_LEVEL": args.log_level}
    # --postgres: a fresh database on that server for each bot (dropped afterwards).
    database_url = create_database(data_dir) if args.postgres else None
    bot = BotProcess(api, data_dir, env=env, name="bench-bot", cwd=tree, database_url=database_url)
    counter: RecordCounter | None = None
    profiler: asyncio.subprocess.Process | None = None
    profile_path = data_dir / "bot.pyspy.txt"
    try:
        await bot.start(timeout=START_TIMEOUT)
        assert bot.pid is not None
        counter = RecordCounter(bot.database_path, postgres=database_url)
        burst = build_burst(api, args.messages, args.clients)
        py_spy = find_py_spy(args.py_spy) if profile else None
        if profile and py_spy is None:
            print("  --profile: py-spy not found (pip install py-spy, or --py-spy PATH)")
        if py_spy is not None:
            profiler = await start_py_spy(py_spy, bot.pid, profile_path, args.profile)
        bot_cpu_before = process_cpu_seconds(bot.pid)
        own_cpu_before = time.process_time()
        requests_before = len(api.requests)
        print(f"\n{label}: pushing the burst ...", flush=True)
        push(api, burst)
        first_pushed = burst.pushed_at[0]
        print(f"  pushed in {burst.pushed_at[-1] - first_pushed:.3f} s")
        recorded, recorded_at, samples = await wait_recorded(
            counter, args.messages, args.timeout, args.poll_interval
        )
        remaining = max(args.timeout - (time.time() - first_pushed), 1.0)
        deliveries = await wait_delivered(api, burst.keys, remaining)
        bot_cpu_after = process_cpu_seconds(bot.pid)
        own_cpu = time.process_time() - own_cpu_before
        wall = time.time() - first_pushed
        sends, polls = count_requests(api, requests_before)
        if profiler is not None:
            with contextlib.suppress(ProcessLookupError):
                profiler.send_signal(signal.SIGINT)
            await asyncio.wait_for(profiler.wait(), 30)
        duplicates = bot.query(
            "SELECT COUNT(*) - COUNT(DISTINCT chat_id || ':' || telegram_message_id) "
            "FROM messages WHERE direction = 'from_client'"
        )[0][0]
        tickets = bot.query("SELECT COUNT(*) FROM tickets")[0][0]
        await bot.stop(timeout=60)
    finally:
        if counter is not None:
            counter.close()
        if bot.running:
            bot.kill()
        await api.stop()
        if database_url is not None and not args.keep:
            drop_database(database_url)
    log = bot.output()
    last_copy = max(deliveries.first_seen.values(), default=None)
    cpu = (
        bot_cpu_after - bot_cpu_before
        if bot_cpu_before is not None and bot_cpu_after is not None
        else None
    )
    return BotRun(
        label=label,
        recorded=recorded,
        recorded_span=recorded_at - first_pushed if recorded_at is not None else None,
        peak=peak_rate(samples),
        duplicates=duplicates,
        tickets=tickets,
        deliveries=deliveries,
        latencies=[seen - burst.pushed_at[i] for i, seen in deliveries.first_seen.items()],
        last_copy=last_copy - first_pushed if last_copy is not None else None,
        bot_cpu=cpu,
        own_cpu=own_cpu,
        wall=wall,
        sends=sends,
        polls=polls,
        on_postgres=database_url is not None,
        locked=log.count(LOCKED),
        errors=sum(1 for line in log.splitlines() if "level='error'" in line or " ERROR " in line),
        locked_lines=[line for line in log.splitlines() if LOCKED in line][:3],
        profile=profile_path if profile_path.exists() else None,
    )


def recorded_rate(run: BotRun, messages: int) -> float | None:
    return messages / run.recorded_span if run.recorded_span else None


def copy_after_recorded(run: BotRun) -> float | None:
    """The outbox goal's figure: seconds from the last message being seen recorded to the
    last copy in the support group (<= 5 s with the limits raised)."""
    if run.last_copy is None or run.recorded_span is None:
        return None
    if len(run.deliveries.first_seen) < run.recorded:
        return None  # not every recorded message reached the group
    return run.last_copy - run.recorded_span


def print_bot(run: BotRun, messages: int) -> None:
    print(f"\nresults: {run.label}")
    rate = recorded_rate(run, messages)
    if run.recorded_span is None or rate is None:
        print(f"  recorded: only {run.recorded} of {messages}")
    else:
        print(
            f"  recorded: {messages} in {run.recorded_span:.2f} s "
            f"-> {rate:,.0f} msg/s (peak 1-s window: {run.peak:,.0f} msg/s)"
        )
    loss = messages - run.recorded
    print(f"  loss (pushed - recorded): {loss}; recorded twice: {run.duplicates}; "
          f"tickets: {run.tickets}")  # fmt: skip
    found = run.deliveries
    if run.last_copy is not None:
        print(
            f"  time to the last copy in the support group: {run.last_copy:.2f} s "
            f"({len(found.first_seen)} of {messages} messages reached it)"
        )
    after = copy_after_recorded(run)
    if after is not None:
        print(
            f"  last copy in the group after the last message was recorded: {after:.2f} s "
            f"(goal <= {GOAL_COPY_AFTER:.0f} s)"
        )
    print(
        f"  group requests carrying client messages: {found.copies} copyMessage, "
        f"{found.merged_messages} merged sendMessage carrying {found.merged_texts} texts"
    )
    if run.latencies:
        print(
            f"  latency push -> group copy: p50 {percentile(run.latencies, 50):.2f} s, "
            f"p99 {percentile(run.latencies, 99):.2f} s, max {max(run.latencies):.2f} s"
        )
    if run.bot_cpu is not None:
        print(
            f"  CPU over {run.wall:.1f} s wall: bot process {run.bot_cpu:.1f} s, "
            f"fake Bot API + this script {run.own_cpu:.1f} s "
            f"({CORES} cores = {CORES * run.wall:.1f} s available)"
        )
        delivered = max(len(found.first_seen), 1)
        print(
            f"  bot CPU per message: {1000 * run.bot_cpu / messages:.2f} ms per message "
            f"recorded and delivered ({1000 * run.bot_cpu / delivered:.2f} ms per delivered copy)"
        )
        print_machine_ceiling(run, messages)
    print(f"  '{LOCKED}' in the bot's log: {run.locked}; error lines: {run.errors}")
    for line in run.locked_lines:
        print(f"    {line[:400]}")


def print_machine_ceiling(run: BotRun, messages: int) -> None:
    """What this machine allows at these costs: the bot, the fake Bot API and this script
    share its cores, and every message costs each of them CPU (the fake Bot API answers
    each of the bot's requests: a desk sends several per client message, a relay one)."""
    assert run.bot_cpu is not None
    print(
        f"  Bot API requests: {run.sends:,} besides getUpdates "
        f"({run.sends / messages:.2f} per message), {run.polls:,} getUpdates"
    )
    per_message = (run.bot_cpu + run.own_cpu) / messages
    print(
        f"  CPU per message on this machine: bot {1000 * run.bot_cpu / messages:.2f} ms + "
        f"fake Bot API and this script {1000 * run.own_cpu / messages:.2f} ms "
        f"({1000 * run.own_cpu / max(run.sends + run.polls, 1):.3f} ms per request) "
        f"-> at most {CORES / per_message:,.0f} msg/s on {CORES} cores at these costs"
    )
    if run.on_postgres:
        print("  (the PostgreSQL server's own CPU is not counted: the ceiling is lower still)")


def print_before_now(before: BotRun, now: BotRun, messages: int) -> None:
    """Side by side, with the ratio now / before (same burst, same disk, same run)."""

    def ms(run: BotRun) -> float | None:
        return 1000 * run.bot_cpu / messages if run.bot_cpu is not None else None

    def p50(run: BotRun) -> float | None:
        return percentile(run.latencies, 50) if run.latencies else None

    figures: list[tuple[str, float | None, float | None, str]] = [
        ("recorded msg/s", recorded_rate(before, messages), recorded_rate(now, messages), ",.0f"),
        ("bot CPU ms per message", ms(before), ms(now), ".2f"),
        ("last copy in the group (s)", before.last_copy, now.last_copy, ".2f"),
        (
            "last copy after last recorded (s)",
            copy_after_recorded(before),
            copy_after_recorded(now),
            ".2f",
        ),
        ("latency p50 (s)", p50(before), p50(now), ".2f"),
        ("loss", messages - before.recorded, messages - now.recorded, "d"),
        ("recorded twice", before.duplicates, now.duplicates, "d"),
        (f"'{LOCKED}'", before.locked, now.locked, "d"),
    ]
    rows = []
    for name, old, new, spec in figures:
        ratio = f"{new / old:.2f}" if old and new is not None else "-"
        rows.append(
            (
                name,
                "-" if old is None else format(old, spec),
                "-" if new is None else format(new, spec),
                ratio,
            )
        )
    print(f"\nbefore / now (same burst, same run; {before.label} measured first)")
    print(table(["figure", before.label, now.label, "now / before"], rows))


async def run(args: argparse.Namespace, data_dir: Path) -> int:
    print(machine_summary(data_dir))
    print(f"burst: {args.messages} messages from {args.clients} clients, pushed at once")
    if args.postgres:
        server = make_url(args.postgres)
        print(
            f"the bots' database: PostgreSQL at {server.host}:{server.port} (fresh database each)"
        )
    print(
        "outbox limits raised for the run (delivery not capped by Telegram's 30/s, 1/s per "
        "private chat, 20/min per group): "
        + ", ".join(f"{k}={v}" for k, v in RAISED_LIMITS.items())
    )

    print(f"\nbaseline: {args.messages} single-row INSERT + COMMIT with aiosqlite ...", flush=True)
    pragmas = await bot_pragmas(data_dir / "pragmas.db")
    print(
        "  pragmas (as crm/db.py make_engine sets them): "
        + ", ".join(f"{k}={v}" for k, v in pragmas.items())
    )
    raw_before = await raw_insert_rate(data_dir / "baseline-before.db", args.messages, pragmas)
    print(f"  raw committed inserts: {raw_before:,.0f} rows/s")

    before: BotRun | None = None
    if args.before:
        tree = add_worktree(args.before, "bench-ingest-before-")
        try:
            label = f"before ({args.before})"
            before = await run_bot(args, data_dir / "before", label, tree, profile=False)
        finally:
            remove_worktree(tree)
    now = await run_bot(args, data_dir / "now", "now", None, profile=bool(args.profile))

    # fsync latency on a shared disk drifts over minutes: measure again after the burst and
    # compare with the mean of both.
    print("\nbaseline again after the burst ...", flush=True)
    raw_after = await raw_insert_rate(data_dir / "baseline-after.db", args.messages, pragmas)
    print(f"  raw committed inserts: {raw_after:,.0f} rows/s")
    raw_rate = (raw_before + raw_after) / 2
    relay = None
    if not args.no_relay:
        print("\nplain relay bot: the same burst ...", flush=True)
        relay = await run_relay(args, data_dir, pragmas)

    if before is not None:
        print_bot(before, args.messages)
    print_bot(now, args.messages)
    if before is not None:
        print_before_now(before, now, args.messages)
    rate = recorded_rate(now, args.messages)
    ratio = rate / raw_rate if rate is not None else 0.0
    print("\ncomparison (same run, same disk)")
    if args.postgres:
        print("  (the bots on PostgreSQL; the raw inserts and the relay bot on SQLite)")
    print(
        f"  raw single-row committed inserts: {raw_rate:,.0f} rows/s "
        f"(mean of {raw_before:,.0f} before and {raw_after:,.0f} after)"
    )
    print(f"  bot recorded rate:                {rate or 0:,.0f} msg/s")
    print(f"  ratio recorded / raw:             {ratio:.3f}")
    relay_ratio = 0.0
    if relay is not None:
        print_relay(relay, args.messages)
        relay_ratio = (rate or 0) / relay.rate if relay.rate else 0.0
        print(
            f"\n  our rate / raw commit rate / relay rate: {rate or 0:,.0f} / "
            f"{raw_rate:,.0f} / {relay.rate or 0:,.0f} msg/s"
        )
        print(f"  ratio recorded / relay:           {relay_ratio:.2f}")
    print("\ngoal")
    print(
        f"  recorded >= {GOAL_RATE:,.0f} msg/s: {verdict(rate is not None and rate >= GOAL_RATE)}"
    )
    print(f"  ratio >= {GOAL_RATIO:.1f}: {verdict(ratio >= GOAL_RATIO)}")
    print(f"  zero '{LOCKED}': {verdict(now.locked == 0)}")
    print(f"  zero loss: {verdict(now.recorded == args.messages)}")
    after = copy_after_recorded(now)
    print(
        f"  last copy in the group <= {GOAL_COPY_AFTER:.0f} s after the last message was "
        f"recorded: {verdict(after is not None and after <= GOAL_COPY_AFTER)}"
    )
    if relay is not None:
        print(f"  recorded >= 5x the relay bot: {verdict(relay_ratio >= 5)}")
    print(f"\n{load_average()}")

    if now.profile is not None:
        what = "Python CPU only" if args.profile == "cpu" else "all busy threads"
        print(f"\nbot process profile during the burst (py-spy, {what}; this run's figures")
        print("are slowed by the sampling):")
        print(summarize_collapsed(now.profile, args.top))
    elif args.profile:
        failure = data_dir / "now" / "bot.pyspy.log"
        text = failure.read_text(errors="replace") if failure.exists() else "(no log)"
        print(f"\npy-spy wrote no profile:\n{text[-800:]}")
    return 0


def peak_rate(samples: Sequence[tuple[float, int]]) -> float:
    """Highest recorded count growth over any ~1 s between polls."""
    best = 0.0
    first = 0
    for last in range(len(samples)):
        while samples[last][0] - samples[first][0] > 1.0:
            first += 1
        span = samples[last][0] - samples[first][0]
        if span >= 0.5:
            best = max(best, (samples[last][1] - samples[first][1]) / span)
    return best


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Push a burst of client messages to the real bot (fake Bot API, fresh "
        "SQLite) and compare its recording rate with raw committed inserts on the same disk.",
    )
    parser.add_argument("--messages", type=int, default=2000, help="burst size (default 2000)")
    parser.add_argument("--clients", type=int, default=400, help="distinct clients (default 400)")
    parser.add_argument(
        "--full", action="store_true", help="the full size: 5,000 messages from 1,000 clients"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for everything (600)"
    )
    parser.add_argument("--poll-interval", type=float, default=0.02, help="DB count poll (s)")
    parser.add_argument("--tmp-dir", help="where the temporary databases go (default: TMPDIR)")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (INFO)")
    parser.add_argument("--keep", action="store_true", help="keep the database and bot logs")
    parser.add_argument(
        "--profile",
        choices=("cpu", "wall"),
        help="sample the bot with py-spy during the burst: cpu (GIL holder) or wall (all "
        "busy threads); py-spy is not a project dependency",
    )
    parser.add_argument("--py-spy", help="path to py-spy (default: found on PATH)")
    parser.add_argument("--no-relay", action="store_true", help="skip the plain relay bot baseline")
    parser.add_argument("--top", type=int, default=15, help="profile lines to print (15)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run the bots on this PostgreSQL server (e.g. postgresql+asyncpg://postgres@"
        "127.0.0.1:5432/postgres), a fresh database each; the raw-insert baseline and the "
        "relay bot stay on SQLite",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="first push the same burst to the bot of an older commit (a temporary git "
        "worktree) and print both side by side; --profile samples the current one only",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.full:
        args.messages, args.clients = 5000, 1000
    if args.messages < 1 or not 1 <= args.clients <= args.messages:
        print("error: need 1 <= clients <= messages", file=sys.stderr)
        return 2
    if args.postgres:
        os.environ[POSTGRES_ENV] = args.postgres  # where tests/db.py creates databases
    data_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmp_dir))
    for tree in ("before", "now"):  # each bot's database, logs and profile
        (data_dir / tree).mkdir()
    try:
        return asyncio.run(run(args, data_dir))
    finally:
        if args.keep:
            print(f"\nkept: {data_dir} (databases, bot logs, profile)")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
