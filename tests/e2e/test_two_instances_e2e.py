"""Two real bot processes in webhook mode on one PostgreSQL database; the test plays Telegram.

Both instances ("a" and "b") serve the webhook on their own port and run their own outbox
worker and SLA clock scan against the same tables. The test POSTs updates to their webhook
URLs with the secret header, as Telegram (or a load balancer in front of the instances) would,
and then reads what reached the fake Bot API and what was written to the database:

- the same update delivered to both instances at once is recorded once, copied to the support
  group once and acknowledged once (20 clients at the same time, to make the races likely);
- with messages arriving on both instances, every outbox row is sent exactly once, in order
  per chat, although both workers deliver from the same table;
- a ticket nobody answers gets its warning, breach and escalation once each, although both
  instances scan the clocks;
- a request without the webhook secret or the monitoring token gets 401 and writes nothing;
- both instances started at the same moment on a fresh database come up (a deploy of two
  replicas), and two different messages of one client that reach the two instances at the
  same moment are both kept, in one ticket;
- with Redis, both instances draw on ONE budget per group (and per private chat, and
  overall): together they send the support group no more than its limit a minute, and
  Telegram's flood control never has to refuse them.

WEBHOOK_URL is the public https URL Telegram is told about (the fake Bot API, like Telegram,
refuses a plain-http one in setWebhook); the test talks plain HTTP to HTTP_PORT, as the TLS
proxy in front of a real deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from crm.db import upgrade_database
from tests.db import postgres_server
from tests.e2e.harness import (
    MANAGER_ID,
    SUPPORT_CHAT_ID,
    BotProcess,
    BotProcessFactory,
    free_port,
    wait_until,
)
from tests.fake_bot_api import FakeBotAPI, RateLimits, Request
from tests.redis_server import redis_server

pytestmark = pytest.mark.skipif(
    postgres_server() is None,
    reason="several instances share a PostgreSQL database; set TEST_POSTGRES_URL (CI does)",
)

SECRET = "s3cret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MONITORING_TOKEN = "tok"
WEBHOOK_PATH = "/telegram/webhook"
ALERTMANAGER_PATH = "/monitoring/alertmanager"
INSTANCE_ENV = {
    "WEBHOOK_SECRET": SECRET,
    "MONITORING_TOKEN": MONITORING_TOKEN,
    "POLLING_TIMEOUT_SECONDS": "1",
    "TIMER_SCAN_SECONDS": "0.5",
    "FIRST_RESPONSE_MINUTES": "0.1",  # 6 s: warning at 3 s, breach at 6 s, escalation at 12 s
    "WARN_WHEN_LEFT_SHARE": "0.5",
    "DUTY_ENGINEERS": "@dana",
    # Limits far above what the tests send, so no row waits for a budget (and none is merged).
    "OUTBOX_OVERALL_PER_SECOND": "1000",
    "OUTBOX_PRIVATE_PER_SECOND": "100",
    "OUTBOX_GROUP_PER_MINUTE": "100000",
    "SEND_BACKOFF_SECONDS": "0.1",
    # A stop drains the outbox for up to this long; keep it inside the harness's stop timeout.
    "SHUTDOWN_GRACE_SECONDS": "3",
}
START_TIMEOUT = 45.0  # two processes importing aiogram at once on a small CI machine
SEND_METHODS = frozenset(
    {"sendmessage", "copymessage", "createforumtopic", "editforumtopic", "senddocument",
     "sendphoto"}
)  # fmt: skip
ACK_TEXT = "is open. An engineer replies within"
MARKER = re.compile(r"msg-c(\d+)-(\d+)\b")
# Bounds a failure only: alerts come seconds after they fall due.
ALERT_WAIT = 60.0


# -- the instances -----------------------------------------------------------------------------


@dataclass
class Instance:
    """One bot process in webhook mode and where it listens."""

    process: BotProcess
    port: int

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH


def make_instance(
    factory: BotProcessFactory, name: str, extra: dict[str, str] | None = None
) -> Instance:
    port = free_port()
    env = {
        **INSTANCE_ENV,
        **(extra or {}),
        "WEBHOOK_URL": f"https://127.0.0.1:{port}{WEBHOOK_PATH}",
        "HTTP_PORT": str(port),
    }
    return Instance(factory(env=env, name=name), port)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def pair(bot_process_factory: BotProcessFactory) -> AsyncIterator[tuple[Instance, Instance]]:
    """Instances a and b on one fresh PostgreSQL database, both answering /healthz.

    The schema is migrated first, as a deploy step would: two processes migrating one empty
    database at the same moment is a test of its own (below).
    """
    a = make_instance(bot_process_factory, "a")
    b = make_instance(bot_process_factory, "b")
    await asyncio.to_thread(upgrade_database, a.process.database_url)
    await start_both(a, b)
    yield a, b
    await stop_both(a, b)


async def start_both(a: Instance, b: Instance) -> None:
    await a.process.start(wait_polling=False, timeout=START_TIMEOUT)
    await b.process.start(wait_polling=False, timeout=START_TIMEOUT)
    await start_both_healthy(a, b)


async def start_both_healthy(a: Instance, b: Instance) -> None:
    """Wait for both /healthz; one failure message naming every instance that did not come up."""
    results = await asyncio.gather(
        *(i.process.wait_http(i.base_url + "/healthz", timeout=START_TIMEOUT) for i in (a, b)),
        return_exceptions=True,
    )
    problems = [str(r) for r in results if isinstance(r, BaseException)]
    if problems:
        raise AssertionError("\n\n".join(problems))


async def stop_both(a: Instance, b: Instance) -> None:
    """Both at once (the factory would stop them one after the other); it then finds them
    stopped, and still reports a process that did not stop cleanly."""
    await asyncio.gather(a.process.stop(), b.process.stop(), return_exceptions=True)


# -- playing Telegram --------------------------------------------------------------------------


async def post_update(
    http: aiohttp.ClientSession,
    instance: Instance,
    update: dict[str, Any],
    *,
    secret: str | None = SECRET,
) -> int:
    """Deliver one update to an instance's webhook, as Telegram does; returns the status."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with http.post(instance.webhook_url, json=update, headers=headers) as response:
        await response.read()
        return response.status


# -- reading the results -----------------------------------------------------------------------


def count(instance: Instance, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(instance.process.query(sql, params)[0][0])


def tails(*instances: Instance, lines: int = 40) -> str:
    return "\n".join(i.process.tail(lines) for i in instances)


def is_send(r: Request) -> bool:
    return r.method.lower() in SEND_METHODS and "chat_id" in r.params


def _what(method: str, chat_id: int, payload: dict[str, Any], file_name: str | None) -> Any:
    if method == "copymessage":
        return ("copy of", payload.get("from_chat_id"), payload.get("message_id"))
    if method in ("createforumtopic", "editforumtopic"):
        return ("topic", payload.get("name"))
    if method == "sendmessage":
        return ("text", payload.get("text"))
    return ("file", file_name)


def request_key(r: Request) -> tuple[str, int, Any]:
    """What a send carried, as far as its outbox row says it (the thread is known only at
    delivery time, so it is left out)."""
    method = r.method.lower()
    file_name = next((f.filename for f in r.files.values()), None)
    chat_id = int(r.params["chat_id"])
    return method, chat_id, _what(method, chat_id, r.params, file_name)


def row_key(method: str, chat_id: int, payload: Any, file_name: str | None) -> tuple[str, int, Any]:
    data = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
    method = method.lower()
    return method, int(chat_id), _what(method, int(chat_id), data, file_name)


@dataclass
class OutboxState:
    """A consistent picture: nothing pending in the outbox, nothing in flight at the fake."""

    requests: Counter[tuple[str, int, Any]]  # successful sends seen by the fake Bot API
    rows: Counter[tuple[str, int, Any]]  # outbox rows marked sent
    by_status: dict[str, int]
    failed_rows: list[tuple[Any, ...]]

    def describe_differences(self) -> str:
        extra = self.requests - self.rows
        missing = self.rows - self.requests
        lines = [f"outbox rows by status: {self.by_status}"]
        for key, times in sorted(extra.items(), key=str):
            lines.append(f"  sent {times} more time(s) than an outbox row says: {key}")
        for key, times in sorted(missing.items(), key=str):
            lines.append(f"  marked sent but not sent ({times}): {key}")
        for row in self.failed_rows:
            lines.append(f"  failed row: {row}")
        return "\n".join(lines)


async def settled_outbox(instance: Instance, fake_api: FakeBotAPI, timeout: float) -> OutboxState:
    """Wait until no outbox row is pending and no send is in flight, then compare what was
    sent with what the outbox says was sent (the fake's log is read on both sides of the
    database read, so a send in between makes the loop look again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        before = len(fake_api.requests)
        in_flight = any(r.status == "pending" and is_send(r) for r in fake_api.requests)
        rows = instance.process.query(
            "SELECT id, status, method, chat_id, payload, file_name, error FROM outbox"
        )
        settled = (
            not in_flight
            and len(fake_api.requests) == before
            and not any(row[1] == "pending" for row in rows)
        )
        if settled or loop.time() > deadline:
            state = OutboxState(
                requests=Counter(request_key(r) for r in fake_api.requests if r.ok and is_send(r)),
                rows=Counter(row_key(r[2], r[3], r[4], r[5]) for r in rows if r[1] == "sent"),
                by_status=dict(Counter(str(r[1]) for r in rows)),
                failed_rows=[r for r in rows if r[1] == "failed"],
            )
            if not settled:
                raise AssertionError(
                    f"the outbox did not settle within {timeout}s.\n"
                    f"{state.describe_differences()}\n--- fake Bot API ---\n"
                    f"{fake_api.describe()}"
                )
            return state
        await asyncio.sleep(0.1)


def assert_each_row_sent_once(state: OutboxState, *instances: Instance) -> None:
    assert state.requests == state.rows and not state.failed_rows, (
        f"outbox rows not sent exactly once:\n{state.describe_differences()}\n{tails(*instances)}"
    )


def assert_no_errors(*instances: Instance) -> None:
    """Neither process logged an error or a traceback (a 500 to Telegram, a crashed job...)."""
    for instance in instances:
        output = instance.process.output()
        found = [
            line
            for line in output.splitlines()
            if "Traceback" in line or "level='error'" in line or " ERROR " in line
        ]
        assert not found, (
            f"{instance.name} logged errors:\n"
            + "\n".join(found[:20])
            + (f"\n{instance.process.tail(80)}")
        )


def scans(instance: Instance) -> int:
    """How many SLA clock scans the instance ran so far (APScheduler logs each)."""
    return instance.process.stderr().count('Running job "scan_clocks')


async def eventually(
    check: Callable[[], bool], what: str, instances: Iterable[Instance], timeout: float = 15.0
) -> None:
    await wait_until(check, what, lambda: tails(*instances), timeout)


# -- 1. one update, two instances --------------------------------------------------------------


async def test_the_same_update_delivered_to_both_instances_makes_one_ticket_one_copy_one_ack(
    pair: tuple[Instance, Instance], fake_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    a, b = pair
    now = int(time.time())
    clients = [720_000 + n for n in range(20)]
    updates = {
        client: fake_api.private_message(
            client, f"dup-{client}: our VM does not boot", first_name=f"Client {client}", date=now
        )
        for client in clients
    }
    # Every update to both instances at once, and all 20 clients at once.
    deliveries = [(client, instance) for client in clients for instance in (a, b)]
    statuses = await asyncio.gather(
        *(post_update(http, instance, updates[client]) for client, instance in deliveries)
    )
    refused = [
        (client, instance.name, status)
        for (client, instance), status in zip(deliveries, statuses, strict=True)
        if status != 200
    ]
    assert not refused, f"webhook answers other than 200: {refused}\n{tails(a, b)}"

    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, count=len(clients), timeout=20)
    state = await settled_outbox(a, fake_api, timeout=20)

    copies = {
        client: [
            r
            for r in fake_api.requests_of("copyMessage")
            if r.params.get("from_chat_id") == client
            and r.params.get("message_id") == updates[client]["message"]["message_id"]
        ]
        for client in clients
    }
    acks = {
        client: [
            r
            for r in fake_api.requests_of("sendMessage")
            if r.params.get("chat_id") == client and ACK_TEXT in str(r.params["text"])
        ]
        for client in clients
    }
    wrong = {
        client: (len(copies[client]), len(acks[client]))
        for client in clients
        if (len(copies[client]), len(acks[client])) != (1, 1)
    }
    assert not wrong, (
        f"(copies to the support group, acknowledgements) per client, expected (1, 1): {wrong}\n"
        f"{state.describe_differences()}\n{tails(a, b)}"
    )
    topics = fake_api.requests_of("createForumTopic")
    assert len(topics) == len(clients), [r.params["name"] for r in topics]

    per_client = dict(
        a.process.query(
            "SELECT c.telegram_user_id, COUNT(t.id) FROM contacts c "
            "LEFT JOIN tickets t ON t.contact_id = c.id GROUP BY c.telegram_user_id"
        )
    )
    assert per_client == dict.fromkeys(clients, 1), f"tickets per client: {per_client}"
    messages = dict(
        a.process.query(
            "SELECT chat_id, COUNT(*) FROM messages WHERE direction = 'from_client' "
            "GROUP BY chat_id"
        )
    )
    assert messages == dict.fromkeys(clients, 1), f"client message rows per chat: {messages}"
    processed = sorted(u for (u,) in a.process.query("SELECT update_id FROM processed_updates"))
    assert processed == sorted(u["update_id"] for u in updates.values())
    assert_each_row_sent_once(state, a, b)
    assert_no_errors(a, b)


# -- 2. two outbox workers, one table ----------------------------------------------------------


async def test_every_outbox_row_is_sent_exactly_once_in_order_with_two_workers_on_one_table(
    pair: tuple[Instance, Instance], fake_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    a, b = pair
    clients, per_client = 10, 5
    first_user = 730_000
    now = int(time.time())

    async def client_writes(c: int) -> list[tuple[int, str, int]]:
        """One client's messages one after another, alternating between the instances."""
        answers = []
        for k in range(1, per_client + 1):
            instance = (a, b)[(c + k) % 2]
            update = fake_api.private_message(
                first_user + c, f"msg-c{c}-{k} from client {c}", first_name=f"C{c}", date=now
            )
            answers.append((k, instance.name, await post_update(http, instance, update)))
        return answers

    results = await asyncio.gather(*(client_writes(c) for c in range(clients)))
    refused = [(c, k, name, s) for c, rs in enumerate(results) for k, name, s in rs if s != 200]
    assert not refused, f"webhook answers other than 200: {refused}\n{tails(a, b)}"
    total = clients * per_client

    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, count=total, timeout=30)
    state = await settled_outbox(a, fake_api, timeout=30)
    assert_each_row_sent_once(state, a, b)
    assert state.by_status.get("merged", 0) == 0, state.by_status

    # Within one topic, the copies went out in the order the client wrote.
    order: dict[int, list[int]] = defaultdict(list)
    threads: dict[int, set[int]] = defaultdict(set)
    for r in fake_api.requests_of("copyMessage"):
        if r.params.get("chat_id") != SUPPORT_CHAT_ID:
            continue
        for c, k in MARKER.findall(str((r.source or {}).get("text", ""))):
            order[int(c)].append(int(k))
            threads[int(c)].add(int(r.params["message_thread_id"]))
    expected = list(range(1, per_client + 1))
    assert {c: order[c] for c in range(clients)} == dict.fromkeys(range(clients), expected), (
        f"copies per client in arrival order: {dict(order)}"
    )
    assert all(len(threads[c]) == 1 for c in range(clients)), dict(threads)
    assert len(set().union(*threads.values())) == clients, "one topic per client"
    assert count(a, "SELECT COUNT(*) FROM tickets") == clients
    assert count(a, "SELECT COUNT(*) FROM messages WHERE direction = 'from_client'") == total
    assert (
        count(a, "SELECT COUNT(*) FROM messages WHERE direction = 'from_client' "
                 "AND delivery = 'delivered'")
        == total
    )  # fmt: skip
    assert_no_errors(a, b)


# -- 3. SLA clocks scanned by both -------------------------------------------------------------


def alert_requests(fake_api: FakeBotAPI, ticket: int) -> dict[str, list[Request]]:
    """Ticket #n's alerts by kind and where they went (English engineer texts)."""

    def texts(chat_id: int, needle: str, *, in_topic: bool | None = None) -> list[Request]:
        return [
            r
            for r in fake_api.requests_of("sendMessage")
            if r.params.get("chat_id") == chat_id
            and re.search(rf"#{ticket}: ", str(r.params.get("text", "")))
            and needle in str(r.params.get("text", ""))
            and (in_topic is None or ("message_thread_id" in r.params) == in_topic)
        ]

    return {
        "warning in topic": texts(SUPPORT_CHAT_ID, "left for the first response", in_topic=True),
        "warning in general": texts(SUPPORT_CHAT_ID, "left for the first", in_topic=False),
        "breach in topic": texts(SUPPORT_CHAT_ID, "target is missed", in_topic=True),
        "breach in general": texts(SUPPORT_CHAT_ID, "target is missed", in_topic=False),
        "escalation in topic": texts(SUPPORT_CHAT_ID, "target was missed", in_topic=True),
        "escalation in general": texts(SUPPORT_CHAT_ID, "target was missed", in_topic=False),
        "escalation to manager": texts(MANAGER_ID, "target was missed"),
        "warning or breach to manager": texts(MANAGER_ID, "target is missed")
        + texts(MANAGER_ID, "left for the"),
    }


EXPECTED_ALERTS = {
    "warning in topic": 1,
    "warning in general": 0,
    "breach in topic": 1,
    "breach in general": 1,
    "escalation in topic": 1,
    "escalation in general": 0,
    "escalation to manager": 1,
    "warning or breach to manager": 0,
}


@pytest.mark.slow
async def test_warning_breach_and_escalation_are_sent_once_each_although_both_instances_scan(
    pair: tuple[Instance, Instance], fake_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    a, b = pair
    date = int(time.time())
    # A few unanswered tickets, opened through either instance, so the scans race on several.
    clients = [740_000 + n for n in range(4)]
    statuses = await asyncio.gather(
        *(
            post_update(
                http,
                (a, b)[n % 2],
                fake_api.private_message(client, f"sla-{client}: disk is gone", date=date),
            )
            for n, client in enumerate(clients)
        )
    )
    assert statuses == [200] * len(clients), f"{statuses}\n{tails(a, b)}"
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, count=len(clients))
    tickets = sorted(t for (t,) in a.process.query("SELECT id FROM tickets"))
    assert len(tickets) == len(clients)

    # The escalations fall due at 12 s; then three more scans on each instance: room for a
    # late twin of any alert (and proof that both instances scan).
    await fake_api.wait_for(
        lambda r: r.params.get("chat_id") == MANAGER_ID and "target was missed" in r.params["text"],
        count=len(clients),
        timeout=ALERT_WAIT,
    )
    targets = {i.name: scans(i) + 3 for i in (a, b)}
    await eventually(
        lambda: all(scans(i) >= targets[i.name] for i in (a, b)),
        "both instances scanned the clocks three more times",
        (a, b),
        timeout=30,
    )
    state = await settled_outbox(a, fake_api, timeout=10)

    found = {ticket: alert_requests(fake_api, ticket) for ticket in tickets}
    counts = {ticket: {where: len(rs) for where, rs in f.items()} for ticket, f in found.items()}
    shown = "\n".join(
        f"  #{ticket} {where} at +{r.time - date:.2f}s: {r.params.get('text')!r}"
        for ticket, f in found.items()
        for where, rs in f.items()
        for r in rs
    )
    wrong = {t: c for t, c in counts.items() if c != EXPECTED_ALERTS}
    assert not wrong, (
        f"alert counts per ticket (expected {EXPECTED_ALERTS}): {wrong}\n{shown}\n{tails(a, b)}"
    )
    # None before its due time (the fake stamps each request), each kind in order.
    due = {"warning in topic": 3, "breach in topic": 6, "escalation in topic": 12}
    early = [
        f"#{ticket} {where} at +{f[where][0].time - date:.2f}s"
        for ticket, f in found.items()
        for where, after in due.items()
        if f[where][0].time < date + after
    ]
    assert not early, f"alerts before their due time: {early}\n{shown}"
    out_of_order = [
        ticket
        for ticket, f in found.items()
        if not f["warning in topic"][0].index
        < f["breach in topic"][0].index
        < f["escalation in topic"][0].index
    ]
    assert not out_of_order, f"tickets whose alerts came out of order: {out_of_order}\n{shown}"
    alert_rows = Counter(a.process.query("SELECT subject_id, kind FROM sla_alerts"))
    assert alert_rows == Counter(
        (t, kind) for t in tickets for kind in ("warning", "breach", "escalation")
    ), alert_rows
    assert_each_row_sent_once(state, a, b)
    assert_no_errors(a, b)


# -- 4. the HTTP endpoints refuse strangers ----------------------------------------------------


async def test_a_wrong_webhook_secret_or_monitoring_token_gets_401_and_writes_nothing(
    pair: tuple[Instance, Instance], fake_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    a, b = pair
    sends_before = sum(1 for r in fake_api.requests if is_send(r))
    update = fake_api.private_message(750_001, "let me in", date=int(time.time()))
    for instance in (a, b):
        for secret in ("wrong", None, SECRET.upper()):
            status = await post_update(http, instance, update, secret=secret)
            assert status == 401, f"{instance.name}, secret {secret!r}: {status}"
    firing = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HostDown", "service_id": "1"},
                "startsAt": "2026-01-01T00:00:00Z",
            }
        ],
    }
    for instance in (a, b):
        for authorization in ("Bearer wrong", "Bearer tok2", "tok", "Basic tok", None):
            headers = {"Authorization": authorization} if authorization is not None else {}
            async with http.post(
                instance.base_url + ALERTMANAGER_PATH, json=firing, headers=headers
            ) as response:
                assert response.status == 401, (
                    f"{instance.name}, Authorization {authorization!r}: {response.status}"
                )
    for table in (
        "processed_updates", "contacts", "tickets", "messages", "ticket_events", "outbox",
        "incidents", "incident_events",
    ):  # fmt: skip
        assert count(a, f"SELECT COUNT(*) FROM {table}") == 0, table
    assert sum(1 for r in fake_api.requests if is_send(r)) == sends_before

    # The same update with the right secret is taken: the refusals did not mark it as seen.
    assert await post_update(http, b, update) == 200
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID)
    await settled_outbox(a, fake_api, timeout=20)
    # Written after all the refusals, it is all there is: one update, one ticket, one copy,
    # no incident from the refused alerts.
    assert count(a, "SELECT COUNT(*) FROM processed_updates") == 1
    assert count(a, "SELECT COUNT(*) FROM tickets") == 1
    assert count(a, "SELECT COUNT(*) FROM messages WHERE direction = 'from_client'") == 1
    assert count(a, "SELECT COUNT(*) FROM incidents") == 0
    assert count(a, "SELECT COUNT(*) FROM incident_events") == 0
    assert len(fake_api.requests_of("copyMessage")) == 1
    assert_no_errors(a, b)


# -- 5. deploying and racing one client --------------------------------------------------------


@contextlib.contextmanager
def schema_changes_held(database_url: str) -> Iterator[Callable[[], int]]:
    """Hold back every CREATE in one database (a SHARE lock on pg_class) until the block ends;
    yields a function counting the other sessions waiting for a lock there.

    Two processes started together reach their migrations some 0.1-0.5 s apart on a busy
    machine, which is longer than the whole migration takes; holding them at their first
    CREATE lines them up, so the test does not depend on the scheduler's luck.
    """
    import psycopg  # a dev dependency, needed only when the suite runs on PostgreSQL

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    name = make_url(database_url).database
    with psycopg.connect(dsn, autocommit=True) as watcher, psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE pg_catalog.pg_class IN SHARE MODE")

        def waiting() -> int:
            row = watcher.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
            return int(row[0]) if row else 0

        try:
            yield waiting
        finally:
            holder.rollback()


async def test_two_instances_started_at_once_on_a_fresh_database_both_come_up(
    bot_process_factory: BotProcessFactory,
) -> None:
    """A deploy of two replicas: both migrate the same empty database at the same moment."""
    a = make_instance(bot_process_factory, "a")
    b = make_instance(bot_process_factory, "b")
    try:
        with schema_changes_held(a.process.database_url) as waiting:
            await a.process.start(wait_polling=False, timeout=START_TIMEOUT)
            await b.process.start(wait_polling=False, timeout=START_TIMEOUT)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + START_TIMEOUT
            # Both held at their first CREATE (or one of them waiting for the other, if
            # migrations take a lock of their own); then both go.
            while waiting() < 2 and loop.time() < deadline:
                if not (a.process.running and b.process.running):
                    break
                await asyncio.sleep(0.05)
        await start_both_healthy(a, b)
        versions = a.process.query("SELECT version_num FROM alembic_version")
        assert len(versions) == 1, versions
    finally:
        await stop_both(a, b)


async def test_two_messages_of_one_client_on_both_instances_at_once_are_kept_in_one_ticket(
    pair: tuple[Instance, Instance], fake_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    """Telegram may deliver two updates of one chat over two webhook connections at once.

    Twice: clients who never wrote before, then the same clients once they closed their
    ticket (their contact exists, no ticket is open). Both messages must be kept (each is
    answered 200, so Telegram never sends it again) and join one open ticket.
    """
    a, b = pair
    clients = [760_000 + n for n in range(10)]
    problems: list[str] = []

    async def both_at_once(phase: str) -> None:
        now = int(time.time())
        updates = {
            client: (
                fake_api.private_message(client, f"{phase}-{client}-1: hello", date=now),
                fake_api.private_message(client, f"{phase}-{client}-2: the VM is down", date=now),
            )
            for client in clients
        }
        statuses = await asyncio.gather(
            *(
                post_update(http, instance, update)
                for first, second in updates.values()
                for instance, update in ((a, first), (b, second))
            )
        )
        assert statuses == [200] * len(statuses), f"{statuses}\n{tails(a, b)}"
        await settled_outbox(a, fake_api, timeout=20)
        kept = Counter(
            chat for (chat,) in a.process.query(
                "SELECT chat_id FROM messages WHERE direction = 'from_client' AND text LIKE %s",
                (f"{phase}-%",),
            )
        )  # fmt: skip
        open_tickets = Counter(
            user for (user,) in a.process.query(
                "SELECT c.telegram_user_id FROM tickets t JOIN contacts c ON c.id = t.contact_id "
                "WHERE t.status = 'open'"
            )
        )  # fmt: skip
        copied = Counter(
            int(r.params["from_chat_id"])
            for r in fake_api.requests_of("copyMessage")
            if str((r.source or {}).get("text", "")).startswith(f"{phase}-")
        )
        lost = {c: 2 - kept[c] for c in clients if kept[c] != 2}
        split = {c: open_tickets[c] for c in clients if open_tickets[c] != 1}
        # Each of the two messages reached the support group once.
        miscopied = {c: copied[c] for c in clients if copied[c] != 2}
        if lost or split or miscopied:
            problems.append(
                f"{phase}: messages lost per client (of 2, all answered 200): {lost}; "
                f"open tickets per client, expected 1: {split}; copies that reached the "
                f"support group per client, expected 2: {miscopied}"
            )

    await both_at_once("new")
    closes = await asyncio.gather(
        *(post_update(http, a, fake_api.private_message(c, "/close")) for c in clients)
    )
    assert closes == [200] * len(clients)
    await eventually(
        lambda: count(a, "SELECT COUNT(*) FROM tickets WHERE status = 'open'") == 0,
        "every client closed their ticket",
        (a, b),
    )
    await both_at_once("known")
    assert not problems, "\n".join(problems)


# -- 6. one budget for both, in Redis ----------------------------------------------------------

GROUP_PER_MINUTE = 6


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.mark.slow
async def test_two_instances_with_redis_share_one_group_budget_and_get_no_429(
    bot_process_factory: BotProcessFactory,
    fake_api: FakeBotAPI,
    http: aiohttp.ClientSession,
    redis_url: str,
) -> None:
    """Each instance alone keeps within the limits; together, only a shared budget does."""
    limits = {
        "REDIS_URL": redis_url,
        "OUTBOX_OVERALL_PER_SECOND": "30",
        "OUTBOX_PRIVATE_PER_SECOND": "1",
        "OUTBOX_GROUP_PER_MINUTE": str(GROUP_PER_MINUTE),
        # No SLA alerts in between: the group's sends are the tickets' own.
        "FIRST_RESPONSE_MINUTES": "60",
    }
    a = make_instance(bot_process_factory, "a", limits)
    b = make_instance(bot_process_factory, "b", limits)
    await asyncio.to_thread(upgrade_database, a.process.database_url)
    fake_api.limit_rates(RateLimits(group_per_minute=GROUP_PER_MINUTE))
    await start_both(a, b)
    try:
        # Four new clients, two through each instance: a topic, a card and a copy each,
        # twice the group's minute.
        clients = [780_000 + n for n in range(4)]
        now = int(time.time())
        statuses = await asyncio.gather(
            *(
                post_update(
                    http,
                    (a, b)[n % 2],
                    fake_api.private_message(client, f"msg-c{n}-1 the VM is down", date=now),
                )
                for n, client in enumerate(clients)
            )
        )
        assert statuses == [200] * len(clients), f"{statuses}\n{tails(a, b)}"
        # What the budget held back goes out in the group's next minute.
        state = await settled_outbox(a, fake_api, timeout=150)
        assert_each_row_sent_once(state, a, b)
        copied = {
            int(c)
            for r in fake_api.requests
            if r.ok and r.params.get("chat_id") == SUPPORT_CHAT_ID
            for c, _ in MARKER.findall(str((r.source or {}).get("text", r.params.get("text"))))
        }
        assert copied == set(range(len(clients))), f"clients copied to the group: {copied}"

        assert not fake_api.rate_limited, [r.summary() for r in fake_api.rate_limited]
        group = sorted(
            r.time for r in fake_api.requests
            if r.ok and is_send(r) and r.params["chat_id"] == SUPPORT_CHAT_ID
        )  # fmt: skip
        assert len(group) > GROUP_PER_MINUTE, "the test did not need a second minute"
        # The fake stamps arrivals; the bot reserved each send before its request left.
        busiest = max(
            sum(1 for t in group[i:] if t < start + 60 - 0.1) for i, start in enumerate(group)
        )
        assert busiest <= GROUP_PER_MINUTE, f"{busiest} sends to the group within 60 s"
        assert_no_errors(a, b)
    finally:
        await stop_both(a, b)
