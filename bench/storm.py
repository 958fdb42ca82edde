"""Outage storm: N clients report one outage within seconds, Telegram's limits enforced.

Why: when a data centre loses power, hundreds of clients write within minutes, exactly when
the SLA evidence and the 10-minute first response matter most, and Telegram lets a bot send
only 20 messages a minute to a group (all forum topics of the support supergroup share it),
about 1 a second to a private chat and 30 a second overall. The desk must show every report
to the engineers within a minute and carry one engineer answer to every affected client.

The real ``python -m bot`` runs against the fake Bot API (``tests/fake_bot_api.py``) with
``limit_rates()`` on: past a limit the fake answers 429 with ``retry_after``, as Telegram
does. The bot keeps its own default outbox limits (printed).

Scenario A (default): one customer with one dedicated server and N linked contacts; every
contact writes ``/down`` within ``--spread`` seconds. Scenario B (``--site``): S services at
one site (``crm service add --site DC1``), one per customer, an Alertmanager notification
with an alert for each, then the clients of those services report.

Printed per run: time from each report until engineers can see it (p50, max; a report is
visible once a successful request to the support group carries it: a copy of its message,
or a text, edit or caption carrying its marker ``storm-r<i>``), the share acknowledged
within 5 s (the bot answered in the client's chat), the time from one engineer message in
the incident's room (the forum topic named "Outage ...") until each client's chat received
it (p50, max, how many of N), the 429s drawn, loss (reports pushed vs recorded in the
database) and the group sends used. Nothing waits forever: a phase that does not finish
within its cap is printed as "> cap" with the count reached.

    python -m bench.storm                    # scenario A, 50 clients
    python -m bench.storm --full             # scenario A, 300 clients
    python -m bench.storm --site             # scenario B, 20 services x 1 client
    python -m bench.storm --site --full      # scenario B, 150 services x 2 clients
    python -m bench.storm --before HEAD~5    # the same run on an older commit, side by side
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    PROJECT_ROOT,
    add_worktree,
    load_average,
    machine_summary,
    percentile,
    remove_worktree,
    table,
    verdict,
)
from bench.ingest import process_cpu_seconds
from tests.e2e.harness import SUPPORT_CHAT_ID, BotProcess, free_port
from tests.fake_bot_api import SEND_METHODS, FakeBotAPI, RateLimits, Request

FIRST_CLIENT = 820_000
ENGINEER_ID = 500_001
BOT_USERNAME = "storm_support_bot"
MONITORING_TOKEN = "storm-token"
SITE = "DC1"
REPORT = re.compile(r"\bstorm-r(\d+)\b")
ANSWER_MARKER = "storm-answer"
ACK_SECONDS = 5.0
START_TIMEOUT = 120.0  # aiogram alone takes seconds to import on a busy 2-core machine
BOT_ENV = {"POLLING_TIMEOUT_SECONDS": "1", "SHUTDOWN_GRACE_SECONDS": "10"}
# Goals of issue 10, at N = 300 with Telegram's limits enforced.
GOAL_VISIBLE = 60.0
GOAL_ANSWER = 30.0
CARRIERS = ("sendmessage", "editmessagetext", "sendphoto", "senddocument", "editmessagecaption")

# `python -m crm` commands run in one child process of the measured tree (its own crm code),
# each through crm.cli.main as the command line would: no interpreter start per command.
SETUP_CHILD = r"""
import contextlib, io, json, sys
from crm.cli import main
results = []
for argv in json.load(sys.stdin):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    results.append({"code": code, "out": out.getvalue()})
sys.stdout.write(json.dumps(results))
"""


# -- setup ------------------------------------------------------------------------------------


class SetupError(Exception):
    pass


class SiteUnsupported(Exception):
    pass


@dataclass
class Client:
    index: int
    user_id: int
    name: str
    token: str
    service_id: int


@dataclass
class Desk:
    """What the managers set up on the command line before the storm."""

    clients: list[Client]
    service_ids: list[int]


async def crm_batch(tree: Path, database_url: str, commands: list[list[str]]) -> list[str]:
    """Run `python -m crm ARGS` for each command in one child; their stdout, in order."""
    env = {**os.environ, "DATABASE_URL": database_url, "BOT_USERNAME": BOT_USERNAME}
    env.update({"TIMEZONE": "Asia/Almaty"})
    for name in ("BOT_TOKEN", "TELEGRAM_API_URL"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SETUP_CHILD,
        cwd=tree,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(json.dumps(commands).encode())
    if process.returncode != 0:
        raise SetupError(f"crm setup child failed:\n{err.decode(errors='replace')[-2000:]}")
    results = json.loads(out)
    outputs = []
    for command, result in zip(commands, results, strict=True):
        if result["code"] != 0 and "--help" not in command:
            raise SetupError(f"python -m crm {' '.join(command)} failed: {result['out'][-500:]}")
        outputs.append(result["out"])
    return outputs


async def crm_json(tree: Path, url: str, commands: list[list[str]]) -> list[dict[str, Any]]:
    outputs = await crm_batch(tree, url, [[*c, "--json"] for c in commands])
    return [json.loads(out) for out in outputs]


async def site_supported(tree: Path, url: str) -> bool:
    (help_text,) = await crm_batch(tree, url, [["service", "add", "--help"]])
    return "--site" in help_text


async def set_up_desk(args: argparse.Namespace, tree: Path, url: str) -> Desk:
    """Scenario A: one customer, one server, N contacts. B: S customers, one service each at
    one site, k contacts each."""
    if args.site and not await site_supported(tree, url):
        raise SiteUnsupported(
            "`python -m crm service add` has no --site in this tree: scenario B skipped"
        )
    customers = args.services if args.site else 1
    per_service = args.clients_per_service if args.site else args.clients
    added = await crm_json(
        tree, url, [["customer", "add", f"Storm customer {c}"] for c in range(customers)]
    )
    ids = [int(a["customer"]["id"]) for a in added]
    site = ["--site", SITE] if args.site else []
    services = await crm_json(
        tree,
        url,
        [
            [
                "service",
                "add",
                f"--customer={c}",
                "--type=dedicated",
                "--fee=150000",
                f"--name=server-{n}",
                "--since=2026-01-01",
                *site,
            ]
            for n, c in enumerate(ids)
        ],
    )
    invites = await crm_json(tree, url, [["invite", "--customer", str(c)] for c in ids])
    clients: list[Client] = []
    for n, (service, invite) in enumerate(zip(services, invites, strict=True)):
        for k in range(per_service):
            index = len(clients)
            clients.append(
                Client(
                    index,
                    FIRST_CLIENT + index,
                    f"Client {n}.{k}",
                    str(invite["token"]),
                    int(service["service"]["id"]),
                )
            )
    return Desk(clients, [int(s["service"]["id"]) for s in services])


async def link_clients(api: FakeBotAPI, bot: BotProcess, desk: Desk, timeout: float) -> None:
    """Every contact opens the invitation (limits off: this is not the storm)."""
    for client in desk.clients:
        api.push_update(
            api.private_message(client.user_id, f"/start {client.token}", first_name=client.name)
        )
    deadline = time.time() + timeout
    users = {c.user_id for c in desk.clients}
    while True:
        linked = bot.query("SELECT COUNT(*) FROM contacts WHERE customer_id IS NOT NULL")[0][0]
        answered = {r.params.get("chat_id") for r in ok_requests(api)} & users
        if linked >= len(users) and len(answered) >= len(users):
            return
        if time.time() > deadline:
            raise SetupError(f"only {linked} of {len(users)} contacts linked in {timeout:.0f} s")
        await asyncio.sleep(0.5)


def request_line(request: Request) -> str:
    """One request of the fake's log in full (texts not shortened), for --keep."""
    params = json.dumps(request.params, ensure_ascii=False, default=str)
    state = f"{request.status} {request.error_code or ''}".strip()
    return f"{request.time:.3f} #{request.index} {request.method} {params} [{state}]"


def ok_requests(api: FakeBotAPI, since: int = 0) -> list[Request]:
    return [r for r in list(api.requests)[since:] if r.status == "ok"]


async def quiet_group(api: FakeBotAPI, since: int) -> float:
    """The group's budget is 20 a minute: if the setup spent some, wait until a minute after
    its last group send so the storm starts with the whole budget. Returns the wait."""
    sends = [
        r.time
        for r in ok_requests(api, since)
        if r.params.get("chat_id") == SUPPORT_CHAT_ID and r.method.lower() in SEND_METHODS
    ]
    wait = max(sends) + 61 - time.time() if sends else 0.0
    if wait > 0:
        await asyncio.sleep(wait)
    return max(wait, 0.0)


# -- what the fake saw ------------------------------------------------------------------------


@dataclass
class Seen:
    #: report index -> first time a group request carried it
    visible: dict[int, float] = field(default_factory=dict)
    #: report index -> first time the client's chat got anything from the bot after it
    acked: dict[int, float] = field(default_factory=dict)


def reports_seen(
    api: FakeBotAPI,
    since: int,
    keys: dict[tuple[int, int], int],
    chats: dict[int, int],
    pushed: dict[int, float],
) -> Seen:
    seen = Seen()
    for request in ok_requests(api, since):
        chat = request.params.get("chat_id")
        method = request.method.lower()
        if chat == SUPPORT_CHAT_ID:
            for index in carried(request, method, keys):
                seen.visible.setdefault(index, request.time)
        elif chat in chats and method in SEND_METHODS | {"editmessagetext"}:
            index = chats[chat]
            if index in pushed and request.time >= pushed[index]:
                seen.acked.setdefault(index, request.time)
    return seen


def carried(request: Request, method: str, keys: dict[tuple[int, int], int]) -> list[int]:
    """The reports a successful group request carries: copies by (chat, message id), texts
    and captions by marker (merged texts and edits of a batched listing count)."""
    params = request.params
    if method == "copymessage":
        key = (int(params["from_chat_id"]), int(params["message_id"]))
        return [keys[key]] if key in keys else []
    if method == "copymessages":
        source = int(params["from_chat_id"])
        return [keys[(source, int(m))] for m in params["message_ids"] if (source, int(m)) in keys]
    if method in CARRIERS:
        text = f"{params.get('text') or ''} {params.get('caption') or ''}"
        return [int(m) for m in REPORT.findall(text)]
    return []


def answers_seen(api: FakeBotAPI, since: int, message_id: int, chats: set[int]) -> dict[int, float]:
    """Client chat -> first time it received the engineer's room message (a copy of it, or a
    text carrying it)."""
    got: dict[int, float] = {}
    for request in ok_requests(api, since):
        chat = request.params.get("chat_id")
        if chat not in chats or chat in got:
            continue
        params = request.params
        method = request.method.lower()
        if method in ("copymessage", "copymessages"):
            ids = params.get("message_ids") or [params.get("message_id")]
            if int(params["from_chat_id"]) == SUPPORT_CHAT_ID and message_id in map(int, ids):
                got[chat] = request.time
        elif ANSWER_MARKER in f"{params.get('text') or ''} {params.get('caption') or ''}":
            got[chat] = request.time
    return got


def rooms(api: FakeBotAPI, since: int) -> list[tuple[float, int, str]]:
    """(time, thread, name) of each outage room (forum topic named "Outage ...") created."""
    return [
        (r.time, int(r.result["message_thread_id"]), str(r.params.get("name")))
        for r in ok_requests(api, since)
        if r.method.lower() == "createforumtopic"
        and str(r.params.get("name", "")).startswith("Outage")
    ]


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    clients: int
    visible: list[float] = field(default_factory=list)  # inf: not visible within the cap
    acked: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    answer_posted: bool = False
    room: str = "-"
    rooms: int = 0
    rate_limited: int = 0
    recorded: int = 0
    group_sends: Counter[str] = field(default_factory=Counter)
    group_edits: int = 0
    group_failed: Counter[str] = field(default_factory=Counter)
    private_sends: int = 0
    errors: int = 0
    storm_seconds: float = 0.0
    bot_cpu: float | None = None
    alert_to_room: float | None = None
    notes: list[str] = field(default_factory=list)


async def post_alerts(port: int, service_ids: Sequence[int]) -> float:
    """One Alertmanager notification (one group) with a firing alert per service."""
    starts = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = [
        {
            "status": "firing",
            "labels": {"service_id": str(s), "alertname": "HostDown", "site": SITE},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"storm-{s}",
        }
        for s in service_ids
    ]
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "desk",
        "groupKey": '{}:{site="DC1"}',
        "groupLabels": {"site": SITE},
        "commonLabels": {"alertname": "HostDown", "site": SITE},
        "alerts": alerts,
    }
    posted = time.time()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http,
        http.post(
            f"http://127.0.0.1:{port}/monitoring/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {MONITORING_TOKEN}"},
        ) as response,
    ):
        if response.status != 200:
            raise SetupError(
                f"Alertmanager webhook answered {response.status}: {(await response.text())[:300]}"
            )
    return posted


async def push_reports(
    api: FakeBotAPI, clients: Sequence[Client], spread: float, plain: bool = False
) -> tuple[dict[tuple[int, int], int], dict[int, float]]:
    """Each client writes /down with a unique marker, evenly over `spread` seconds
    (`plain`: only the first writes /down, the others just say their server is down)."""
    keys: dict[tuple[int, int], int] = {}
    pushed: dict[int, float] = {}
    started = time.time()
    for client in clients:
        due = started + spread * client.index / max(len(clients), 1)
        if due > time.time():
            await asyncio.sleep(due - time.time())
        command = "" if plain and client.index > 0 else "/down "
        text = f"{command}storm-r{client.index} {client.name}: our server does not answer"
        update = api.private_message(
            client.user_id, text, first_name=client.name, date=int(time.time())
        )
        keys[(client.user_id, int(update["message"]["message_id"]))] = client.index
        api.push_update(update)
        pushed[client.index] = time.time()
    return keys, pushed


async def wait_reports(
    api: FakeBotAPI,
    since: int,
    keys: dict[tuple[int, int], int],
    chats: dict[int, int],
    pushed: dict[int, float],
    cap: float,
) -> Seen:
    """Until every report is visible and acknowledged, or `cap` seconds after the last push."""
    deadline = max(pushed.values()) + cap
    while True:
        seen = reports_seen(api, since, keys, chats, pushed)
        done = len(seen.visible) >= len(pushed) and len(seen.acked) >= len(pushed)
        if done or time.time() > deadline:
            return seen
        await asyncio.sleep(0.5)


async def engineer_answers(
    api: FakeBotAPI, since: int, chats: set[int], result: Result, args: argparse.Namespace
) -> None:
    """One engineer message in the first outage room; how many clients' chats receive it."""
    deadline = time.time() + args.room_timeout
    while True:
        found = rooms(api, since)
        if found or time.time() > deadline:
            break
        await asyncio.sleep(0.5)
    result.rooms = len(found)
    if not found:
        result.notes.append(f"no outage room appeared within {args.room_timeout:.0f} s")
        return
    _, thread, name = found[0]
    result.room = name
    for command in args.room_command or []:
        await engineer_command(api, thread, command, result)
    mark = len(api.requests)
    update = api.group_message(
        SUPPORT_CHAT_ID,
        ENGINEER_ID,
        f"{ANSWER_MARKER}: power is back at DC1 within 20 minutes, we are on it",
        thread_id=thread,
        first_name="Dana",
        date=int(time.time()),
    )
    api.push_update(update)
    posted = time.time()
    result.answer_posted = True
    message_id = int(update["message"]["message_id"])
    deadline = posted + args.answer_timeout
    while True:
        got = answers_seen(api, mark, message_id, chats)
        if len(got) >= len(chats) or time.time() > deadline:
            break
        await asyncio.sleep(0.5)
    result.answered = [got[c] - posted if c in got else math.inf for c in sorted(chats)]


async def engineer_command(api: FakeBotAPI, thread: int, command: str, result: Result) -> None:
    """A command an engineer gives in the room before answering (e.g. one that gathers the
    site's incidents into one outage); waits for the bot's reply in the room, 15 s at most."""
    mark = len(api.requests)
    update = api.group_message(
        SUPPORT_CHAT_ID,
        ENGINEER_ID,
        command,
        thread_id=thread,
        first_name="Dana",
        date=int(time.time()),
    )
    api.push_update(update)
    deadline = time.time() + 15
    while True:
        replies = [
            r
            for r in ok_requests(api, mark)
            if r.params.get("chat_id") == SUPPORT_CHAT_ID
            and r.params.get("message_thread_id") == thread
        ]
        if replies or time.time() > deadline:
            break
        await asyncio.sleep(0.5)
    answer = str(replies[0].params.get("text", ""))[:120] if replies else "no reply in 15 s"
    result.notes.append(f"room command {command!r}: {answer!r}")


def count_recorded(bot: BotProcess) -> int:
    texts = bot.query("SELECT text FROM messages WHERE direction = 'from_client'")
    return len({m for (text,) in texts for m in REPORT.findall(text or "")})


async def wait_recorded(bot: BotProcess, expected: int, timeout: float) -> int:
    deadline = time.time() + timeout
    while True:
        recorded = count_recorded(bot)
        if recorded >= expected or time.time() > deadline:
            return recorded
        await asyncio.sleep(0.5)


def tally_group(api: FakeBotAPI, since: int, result: Result, chats: set[int]) -> None:
    for request in ok_requests(api, since):
        chat = request.params.get("chat_id")
        method = request.method.lower()
        if chat == SUPPORT_CHAT_ID and method in SEND_METHODS:
            result.group_sends[request.method] += 1
        elif chat == SUPPORT_CHAT_ID and method.startswith("edit"):
            result.group_edits += 1
        elif chat in chats and method in SEND_METHODS:
            result.private_sends += 1
    for request in list(api.requests)[since:]:
        failed = request.failed and not request.rate_limited
        if failed and request.params.get("chat_id") == SUPPORT_CHAT_ID:
            result.group_failed[f"{request.method} {request.error_code}"] += 1
    result.rate_limited = sum(1 for r in list(api.requests)[since:] if r.rate_limited)


async def run_once(args: argparse.Namespace, label: str, tree: Path, data_dir: Path) -> Result:
    api = FakeBotAPI()
    await api.start()
    api.add_chat(SUPPORT_CHAT_ID, title="Support", is_forum=True)
    api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    port = free_port()
    env = {
        **BOT_ENV,
        "LOG_LEVEL": args.log_level,
        "BOT_USERNAME": BOT_USERNAME,
        "HTTP_PORT": str(port),
        "MONITORING_TOKEN": MONITORING_TOKEN,
    }
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    bot = BotProcess(api, data_dir, env=env, name=f"storm-{label}", cwd=tree)
    try:
        print(f"\n[{label}] setting up the desk ...", flush=True)
        desk = await set_up_desk(args, tree, bot.database_url)
        result = Result(label, len(desk.clients))
        await bot.start(timeout=START_TIMEOUT)
        await bot.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=START_TIMEOUT)
        await link_clients(api, bot, desk, args.timeout)
        waited = await quiet_group(api, 0)
        if waited:
            print(f"[{label}] waited {waited:.0f} s for the group's minute to clear after setup")
        await storm(args, api, bot, desk, port, result)
        result.errors = sum(
            1 for line in bot.stderr().splitlines() if "level='error'" in line or "ERROR" in line
        )
    finally:
        with contextlib.suppress(AssertionError):
            await bot.stop(timeout=30)
        if bot.running:
            bot.kill()
        await api.stop()
        if args.keep:
            log = "\n".join(map(request_line, api.requests))
            await asyncio.to_thread((data_dir / "fake-bot-api.log").write_text, log + "\n")
    return result


async def storm(
    args: argparse.Namespace,
    api: FakeBotAPI,
    bot: BotProcess,
    desk: Desk,
    port: int,
    result: Result,
) -> None:
    since = len(api.requests)
    api.limit_rates(RateLimits())
    started = time.time()
    cpu_before = process_cpu_seconds(bot.pid) if bot.pid else None
    if args.site:
        print(f"[{result.label}] Alertmanager: {len(desk.service_ids)} alerts ...", flush=True)
        alerted = await post_alerts(port, desk.service_ids)
        await asyncio.sleep(args.report_delay)
        found = rooms(api, since)
        result.alert_to_room = found[0][0] - alerted if found else None
    what = "write (the first /down)" if args.plain else "write /down"
    print(
        f"[{result.label}] {len(desk.clients)} clients {what} within {args.spread:.0f} s ...",
        flush=True,
    )
    keys, pushed = await push_reports(api, desk.clients, args.spread, args.plain)
    chats = {c.user_id: c.index for c in desk.clients}
    seen = await wait_reports(api, since, keys, chats, pushed, args.visible_timeout)
    result.visible = [seen.visible.get(i, math.inf) - t for i, t in sorted(pushed.items())]
    result.acked = [seen.acked.get(i, math.inf) - t for i, t in sorted(pushed.items())]
    print(
        f"[{result.label}] {len(seen.visible)} of {len(pushed)} reports visible; "
        "one engineer message in the room ...",
        flush=True,
    )
    await engineer_answers(api, since, set(chats), result, args)
    result.recorded = await wait_recorded(bot, len(pushed), 10.0)
    result.storm_seconds = time.time() - started
    cpu_after = process_cpu_seconds(bot.pid) if bot.pid else None
    if cpu_before is not None and cpu_after is not None:
        result.bot_cpu = cpu_after - cpu_before
    tally_group(api, since, result, set(chats))


# -- printing ---------------------------------------------------------------------------------


def seconds(value: float, cap: float | None = None) -> str:
    if math.isinf(value):
        return f"> {cap:.0f} s" if cap is not None else "never"
    return f"{value:.1f} s"


def figures(result: Result, args: argparse.Namespace) -> list[tuple[str, str, float | None]]:
    """(name, printed value, number for a ratio) of one run."""
    n = result.clients
    visible_n = sum(1 for v in result.visible if not math.isinf(v))
    acked_5 = sum(1 for v in result.acked if v <= ACK_SECONDS)
    got = [v for v in result.answered if not math.isinf(v)]
    sends = sum(result.group_sends.values())
    rows: list[tuple[str, str, float | None]] = []

    def stat(name: str, values: list[float], cap: float) -> None:
        for title, pct in (("p50", 50.0), ("max", 100.0)):
            value = percentile(values, pct) if values else math.inf
            rows.append(
                (f"{name} {title}", seconds(value, cap), None if math.isinf(value) else value)
            )

    stat("report visible to engineers", result.visible, args.visible_timeout)
    rows.append(("reports visible (of N)", f"{visible_n} / {n}", float(visible_n)))
    stat("acknowledged in the client's chat", result.acked, args.visible_timeout)
    rows.append(
        ("acknowledged within 5 s", f"{acked_5} / {n} ({100 * acked_5 / n:.0f} %)", float(acked_5))
    )
    if result.answer_posted:
        stat("room answer reached client", result.answered, args.answer_timeout)
        rows.append(("clients who got the answer", f"{len(got)} / {n}", float(len(got))))
    else:
        rows.append(("room answer", "not posted (no room)", None))
    rows.append(("outage rooms created", str(result.rooms), float(result.rooms)))
    rows.append(("429s drawn", str(result.rate_limited), float(result.rate_limited)))
    rows.append(("loss (pushed - recorded)", str(n - result.recorded), float(n - result.recorded)))
    rows.append(("group sends used", str(sends), float(sends)))
    rows.append(
        (
            "  of which",
            ", ".join(f"{m} {c}" for m, c in result.group_sends.most_common()) or "-",
            None,
        )
    )
    rows.append(("group edits", str(result.group_edits), float(result.group_edits)))
    failed = sum(result.group_failed.values())
    rows.append(("group requests refused (not 429)", str(failed), float(failed)))
    if failed:
        refused = ", ".join(f"{m} {c}" for m, c in result.group_failed.most_common())
        rows.append(("  of which", refused, None))
    rows.append(("sends to clients' chats", str(result.private_sends), float(result.private_sends)))
    if result.alert_to_room is not None:
        rows.append(("alert -> first room", f"{result.alert_to_room:.1f} s", result.alert_to_room))
    rows.append(("storm wall time", f"{result.storm_seconds:.0f} s", result.storm_seconds))
    if result.bot_cpu is not None:
        rows.append(("bot CPU over the storm", f"{result.bot_cpu:.1f} s", result.bot_cpu))
    rows.append(("error lines in the bot's log", str(result.errors), float(result.errors)))
    return rows


def _keyed(
    rows: list[tuple[str, str, float | None]],
) -> dict[tuple[str, int], tuple[str, float | None]]:
    seen: Counter[str] = Counter()
    keyed = {}
    for name, shown, value in rows:
        keyed[(name, seen[name])] = (shown, value)
        seen[name] += 1
    return keyed


def print_results(results: list[Result], args: argparse.Namespace) -> None:
    tables = [figures(r, args) for r in results]
    if len(results) == 1:
        print(table(["figure", results[0].label], [(name, value) for name, value, _ in tables[0]]))
    else:
        # The two runs may print different rows (a refusal only one of them drew): line
        # them up by figure, the n-th "of which" beside the n-th.
        keyed = [_keyed(t) for t in (tables[1], tables[0])]
        order = list(dict.fromkeys([*keyed[0], *keyed[1]]))
        rows = []
        for key in order:
            before, b = keyed[0].get(key, ("-", None))
            now, a = keyed[1].get(key, ("-", None))
            ratio = f"{a / b:.2f}" if a is not None and b not in (None, 0) else "-"
            rows.append((key[0], before, now, ratio))
        print(table(["figure", results[1].label, results[0].label, "now / before"], rows))
    for result in results:
        for note in result.notes:
            print(f"  [{result.label}] {note}")
        print(f"  [{result.label}] answer posted in room: {result.room}")
    print_goals(results[0], args)


def print_goals(result: Result, args: argparse.Namespace) -> None:
    n = result.clients
    print(f"\ngoals of issue 10 (stated at N = 300; this run: N = {n}), for {result.label}")
    visible_max = max(result.visible, default=math.inf)
    answered_max = max(result.answered, default=math.inf)
    print(
        f"  every report visible within {GOAL_VISIBLE:.0f} s: "
        f"{verdict(visible_max <= GOAL_VISIBLE)}"
    )
    print(
        f"  the room answer reaches all {n} within {GOAL_ANSWER:.0f} s: "
        f"{verdict(result.answer_posted and answered_max <= GOAL_ANSWER)}"
    )
    print(f"  zero 429s: {verdict(result.rate_limited == 0)}")
    print(f"  zero loss: {verdict(result.recorded == n)}")
    print(
        f"  each client acknowledged within {ACK_SECONDS:.0f} s: "
        f"{verdict(all(v <= ACK_SECONDS for v in result.acked))}"
    )


# -- the command ------------------------------------------------------------------------------


async def run(args: argparse.Namespace, data_dir: Path) -> int:
    print(machine_summary(data_dir))
    if args.site:
        print(
            f"scenario B: {args.services} services at site {SITE} (one customer each), "
            f"{args.clients_per_service} client(s) per service, an Alertmanager notification "
            f"with {args.services} alerts, then every client writes /down within "
            f"{args.spread:.0f} s"
        )
    else:
        how = ": the first writes /down, the others plain text," if args.plain else " write /down"
        print(
            f"scenario A: one customer with one dedicated server, {args.clients} linked "
            f"contacts{how} within {args.spread:.0f} s"
        )
    print(
        "fake Bot API limits (429 + retry_after past them): "
        f"{RateLimits()}; the bot's own OUTBOX_* limits: its defaults"
    )
    print(
        f"caps: visible {args.visible_timeout:.0f} s after the last report, room "
        f"{args.room_timeout:.0f} s, answer {args.answer_timeout:.0f} s"
    )
    results: list[Result] = []
    try:
        results.append(await run_once(args, "now", PROJECT_ROOT, data_dir / "now"))
        if args.before:
            tree = add_worktree(args.before, "bench-storm-before-")
            try:
                label = f"before ({args.before})"
                results.append(await run_once(args, label, tree, data_dir / "before"))
            finally:
                remove_worktree(tree)
    except SiteUnsupported as skipped:
        print(f"\n{skipped}")
        if not results:
            return 0
    print("\nresults")
    print_results(results, args)
    print(f"\n{load_average()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm",
        description="An outage storm against the real bot with Telegram's limits enforced by "
        "the fake Bot API: how soon engineers see every report, and how many clients one "
        "engineer message in the outage room reaches.",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=50,
        help="scenario A: contacts who report (default 50; --full 300)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="only the first client writes /down; the others write plain text (no command)",
    )
    parser.add_argument(
        "--site",
        action="store_true",
        help="scenario B: services at one site and an Alertmanager notification",
    )
    parser.add_argument(
        "--services",
        type=int,
        default=20,
        help="scenario B: services at the site (default 20; --full 150)",
    )
    parser.add_argument(
        "--clients-per-service",
        type=int,
        default=1,
        help="scenario B: clients per service (default 1; --full 2)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the issue's sizes: A 300 clients; B 150 services x 2 clients",
    )
    parser.add_argument(
        "--spread", type=float, default=3.0, help="seconds over which the reports arrive (3)"
    )
    parser.add_argument(
        "--report-delay",
        type=float,
        default=5.0,
        help="scenario B: seconds between the alerts and the first report (5)",
    )
    parser.add_argument(
        "--visible-timeout",
        type=float,
        default=None,
        help="cap on waiting for every report to be visible, after the last "
        "(default 90; --full 300)",
    )
    parser.add_argument(
        "--room-timeout",
        type=float,
        default=60.0,
        help="cap on waiting for the outage room after that (60)",
    )
    parser.add_argument(
        "--answer-timeout",
        type=float,
        default=60.0,
        help="cap on waiting for the room answer to reach the clients (60)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="cap on linking the contacts before the storm (300)",
    )
    parser.add_argument(
        "--room-command",
        action="append",
        metavar="TEXT",
        help="a command an engineer writes in the room before the answer, e.g. one that "
        "gathers the site's incidents into one outage (repeatable)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run an older commit (a temporary git worktree), side by side",
    )
    parser.add_argument("--tmp-dir", help="where the temporary databases go (default: TMPDIR)")
    parser.add_argument("--log-level", default="INFO", help="the bot's LOG_LEVEL (INFO)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases, bot logs and the fake Bot API request log",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.full:
        args.clients, args.services, args.clients_per_service = 300, 150, 2
    if args.visible_timeout is None:
        args.visible_timeout = 300.0 if args.full else 90.0
    if min(args.clients, args.services, args.clients_per_service) < 1:
        print("error: sizes must be at least 1", file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="bench-storm-", dir=args.tmp_dir))
    try:
        return asyncio.run(run(args, data_dir))
    finally:
        if args.keep:
            print(f"\nkept: {data_dir} (databases, bot logs)")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
