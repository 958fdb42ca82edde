"""Live SLA clocks and the outbox, through the real ``python -m bot`` process.

The clocks: with a 6-second first-response target the warning, the breach (in the topic and
in the general topic, with the duty engineers' mentions) and the escalation to the managers
arrive at their times, once each, and after a restart across a due time they arrive late,
marked so, still once each.

The outbox: a burst of client messages from many clients while the Bot API answers 429 to
every third call (the first BURST_429S times) reaches the support group complete, once, in
each client's order, without any chat getting more than Telegram's limits; a crash (SIGKILL)
in the middle of the burst loses nothing and opens no second ticket. The measured delivery
rates are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.harness import MANAGER_ID, SUPPORT_CHAT_ID, BotProcess, BotProcessFactory, eventually
from tests.fake_bot_api import FakeBotAPI, RateLimits, Request

BASE_ENV = {
    "POLLING_TIMEOUT_SECONDS": "1",
    # A stop drains the outbox for up to this long; rows held back by a spent group budget
    # would otherwise keep the process past the harness's 10 s stop timeout.
    "SHUTDOWN_GRACE_SECONDS": "3",
    "SEND_BACKOFF_SECONDS": "0.1",
}
CLOCK_ENV = {
    **BASE_ENV,
    "FIRST_RESPONSE_MINUTES": "0.1",  # 6 s: warning at 3 s, breach at 6 s, escalation at 12 s
    "TIMER_SCAN_SECONDS": "0.5",
    "WARN_WHEN_LEFT_SHARE": "0.5",
    "DUTY_ENGINEERS": "@dana",
}
CLIENT_ID = 700001
LATE_MARK = "late"
# Bounds a failure only: alerts come seconds after they fall due.
ALERT_WAIT = 60.0
SEND_METHODS = frozenset(
    {"sendmessage", "copymessage", "createforumtopic", "editforumtopic", "senddocument",
     "sendphoto"}
)  # fmt: skip
# The limiter stamps a send before its HTTP request; the fake stamps it on arrival, so two
# sends may look a little closer together here than the bot measured them.
JITTER = 0.1
MARKER = re.compile(r"msg-c(\d+)-(\d+)\b")


# -- helpers ---------------------------------------------------------------------------------


def count(bot: BotProcess, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(bot.query(sql, params)[0][0])


def parse_stored(value: str) -> datetime:
    """A UTC time as the database keeps it (naive text)."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


async def sleep_until(moment: float) -> None:
    """Sleep (asynchronously: the fake server keeps serving) until a wall-clock time: the
    scenario needs the clock past a due time, e.g. while the bot is down."""
    await asyncio.sleep(max(moment - time.time(), 0))


def scans(bot: BotProcess) -> int:
    """How many SLA clock scans the bot's processes ran so far (APScheduler logs each)."""
    return bot.stderr().count('Running job "scan_clocks')


async def more_scans(bot: BotProcess, fake_api: FakeBotAPI, n: int) -> None:
    """Wait until the running bot has scanned the clocks ``n`` more times: room for a late
    twin of an alert, or proof that a scan found nothing to raise."""
    target = scans(bot) + n
    await eventually(
        lambda: scans(bot) >= target, bot, fake_api, f"{n} more clock scans", timeout=30
    )


def sent_in_order(*requests: Request) -> bool:
    return all(a.index < b.index for a, b in itertools.pairwise(requests))


def group_texts(fake_api: FakeBotAPI, needle: str, *, in_topic: bool) -> list[Request]:
    """Successful sendMessage calls to the support group containing a text, in or out of a topic."""
    return [
        r
        for r in fake_api.requests_of("sendMessage")
        if r.params.get("chat_id") == SUPPORT_CHAT_ID
        and needle in str(r.params.get("text", ""))
        and ("message_thread_id" in r.params) == in_topic
    ]


def manager_texts(fake_api: FakeBotAPI, needle: str) -> list[Request]:
    return [
        r
        for r in fake_api.requests_of("sendMessage")
        if r.params.get("chat_id") == MANAGER_ID and needle in str(r.params.get("text", ""))
    ]


def alerts(fake_api: FakeBotAPI) -> dict[str, list[Request]]:
    """The SLA alerts of ticket #1 by where they went (English engineer texts)."""
    return {
        "warning in topic": group_texts(fake_api, "left for the first response", in_topic=True),
        "warning in general": group_texts(fake_api, "left for the first response", in_topic=False),
        "breach in topic": group_texts(fake_api, "target is missed", in_topic=True),
        "breach in general": group_texts(fake_api, "target is missed", in_topic=False),
        "escalation in topic": group_texts(fake_api, "target was missed", in_topic=True),
        "escalation in general": group_texts(fake_api, "target was missed", in_topic=False),
        "escalation to manager": manager_texts(fake_api, "target was missed"),
        "breach to manager": manager_texts(fake_api, "target is missed"),
        "warning to manager": manager_texts(fake_api, "left for the"),
    }


def alert_counts(fake_api: FakeBotAPI) -> dict[str, int]:
    return {where: len(found) for where, found in alerts(fake_api).items()}


def describe_alerts(fake_api: FakeBotAPI, since: float) -> str:
    lines = []
    for where, found in alerts(fake_api).items():
        for r in found:
            lines.append(f"  {where} at +{r.time - since:.2f}s: {r.params.get('text')!r}")
    return "\n".join(lines) or "  (no alerts)"


def sends(fake_api: FakeBotAPI, *, include_failed: bool = False) -> list[Request]:
    """Every call that puts something into a chat (what Telegram's limits count)."""
    return [
        r
        for r in fake_api.requests
        if r.method.lower() in SEND_METHODS
        and (r.ok or (include_failed and r.failed))
        and "chat_id" in r.params
    ]


def max_in_window(times: Iterable[float], span: float) -> tuple[int, float]:
    """The most events in any window [t, t + span), and where that window starts."""
    ordered = sorted(times)
    best, at, first = 0, 0.0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= span:
            first += 1
        if last - first + 1 > best:
            best, at = last - first + 1, ordered[first]
    return best, at


def min_gap(times: Iterable[float]) -> float:
    ordered = sorted(times)
    return min((b - a for a, b in itertools.pairwise(ordered)), default=float("inf"))


def check_rate_limits(
    fake_api: FakeBotAPI,
    *,
    overall_per_second: int,
    group_per_minute: int,
) -> dict[str, Any]:
    """Telegram's limits, measured on the fake server's successful sends."""
    done = sends(fake_api)
    since = min((r.time for r in done), default=0.0)
    overall, overall_at = max_in_window((r.time for r in done), 1.0 - JITTER)
    assert overall <= overall_per_second, (
        f"{overall} sends within one second (from +{overall_at - since:.2f}s); "
        f"the limit is {overall_per_second}/s"
    )
    by_chat: dict[int, list[float]] = defaultdict(list)
    for r in done:
        by_chat[int(r.params["chat_id"])].append(r.time)
    group, group_at = max_in_window(by_chat.get(SUPPORT_CHAT_ID, []), 60.0 - JITTER)
    assert group <= group_per_minute, (
        f"{group} sends to the support group within 60 s (from +{group_at - since:.2f}s); "
        f"the limit is {group_per_minute}/min"
    )
    private = {chat: min_gap(times) for chat, times in by_chat.items() if chat > 0}
    too_close = {chat: gap for chat, gap in private.items() if gap < 1.0 - JITTER}
    assert not too_close, f"private chats got two sends closer than 1 s apart: {too_close}"
    return {
        "sends": len(done),
        "max per 1 s": overall,
        "group max per 60 s": group,
        "private chats": len(private),
        "private chats sent to more than once": sum(1 for gap in private.values() if gap < 1e9),
        "closest private gap": min(private.values(), default=float("inf")),
    }


def burst(
    fake_api: FakeBotAPI, clients: int, per_client: int, *, first_client: int = 710000
) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """Messages from many clients, round by round (as if they all typed at once).

    Returns the updates and, per client, the Telegram message ids in the order written.
    """
    now = int(time.time())
    updates: list[dict[str, Any]] = []
    ids: dict[int, list[int]] = defaultdict(list)
    for k in range(1, per_client + 1):
        for c in range(clients):
            user = first_client + c
            update = fake_api.private_message(
                user, f"msg-c{c}-{k} from client {c}", first_name=f"Client {c}", date=now
            )
            ids[user].append(update["message"]["message_id"])
            updates.append(update)
    return updates, ids


def support_copies(fake_api: FakeBotAPI) -> list[tuple[Request, list[tuple[int, int]]]]:
    """Successful group requests carrying client messages, with the (client, k) they carry.

    A copyMessage carries one message (its source's text); a merged sendMessage carries the
    texts of several, in the order they were joined.
    """
    found = []
    for r in fake_api.requests:
        if not r.ok or r.params.get("chat_id") != SUPPORT_CHAT_ID:
            continue
        if r.method.lower() == "copymessage":
            text = str((r.source or {}).get("text", ""))
        elif r.method.lower() == "sendmessage":
            text = str(r.params.get("text", ""))
        else:
            continue
        carried = [(int(c), int(k)) for c, k in MARKER.findall(text)]
        if carried:
            found.append((r, carried))
    return found


def deliveries_by_client(
    fake_api: FakeBotAPI,
) -> tuple[dict[int, list[int]], dict[int, set[int | None]], int, int]:
    """Per client, the sequence of its message numbers as they reached the group; the topics
    they went to; and how many copies / merged messages carried them."""
    sequence: dict[int, list[int]] = defaultdict(list)
    threads: dict[int, set[int | None]] = defaultdict(set)
    copies = merged = 0
    for r, carried in support_copies(fake_api):
        if r.method.lower() == "copymessage":
            copies += 1
        else:
            merged += 1
        for c, k in carried:
            sequence[c].append(k)
            threads[c].add(r.params.get("message_thread_id"))
    return sequence, threads, copies, merged


def delivery_report(
    bot: BotProcess, fake_api: FakeBotAPI, pushed_at: float, total: int
) -> dict[str, float]:
    """Rates measured from the database and the fake server, printed for ``pytest -s``."""
    rows = bot.query(
        "SELECT received_at, delivered_at FROM messages WHERE direction = 'from_client'"
    )
    received = [parse_stored(r[0]).timestamp() for r in rows]
    delivered = [parse_stored(r[1]).timestamp() for r in rows if r[1] is not None]
    carrying = [r.time for r, _ in support_copies(fake_api)]
    last_received = max(received) - pushed_at
    last_copy = max(carrying) - pushed_at
    report = {
        "messages": float(total),
        "recorded per second": total / last_received,
        "time to the last record (s)": last_received,
        "copies delivered per second": total / last_copy,
        "time to the last copy (s)": last_copy,
        "time to the last delivered mark (s)": max(delivered) - pushed_at,
        "group requests carrying client texts": float(len(carrying)),
    }
    print("\n" + "\n".join(f"  {key}: {value:.2f}" for key, value in report.items()))
    return report


# -- live SLA clocks ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_warning_breach_and_escalation_arrive_at_their_times_once_each(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    bot = await bot_process_factory(env=CLOCK_ENV).start()
    date = int(time.time())
    fake_api.push(fake_api.private_message(CLIENT_ID, "Our VM does not boot", date=date))
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=10)

    due = {
        "warning in topic": date + 3,
        "breach in topic": date + 6,
        "breach in general": date + 6,
        "escalation in topic": date + 12,
        "escalation to manager": date + 12,
    }
    await eventually(
        lambda: all(alerts(fake_api)[where] for where in due),
        bot,
        fake_api,
        "the warning, the breach and the escalation are sent",
        timeout=ALERT_WAIT,
    )
    await more_scans(bot, fake_api, 3)

    found = alerts(fake_api)
    shown = f"\n{describe_alerts(fake_api, date)}\n{bot.tail(30)}"
    assert {where: len(found[where]) for where in due} == dict.fromkeys(due, 1), shown
    for where in (
        "warning in general",
        "escalation in general",
        "warning to manager",
        "breach to manager",
    ):
        assert not found[where], f"{where}: not expected{shown}"
    # None before its due time (the fake's clock stamps each request), in order.
    for where, at in due.items():
        arrived = found[where][0].time
        assert arrived >= at, f"{where} came {at - arrived:.2f}s before its due time{shown}"
    assert sent_in_order(
        found["warning in topic"][0], found["breach in topic"][0], found["escalation in topic"][0]
    ), shown
    general = str(found["breach in general"][0].params["text"])
    assert general.endswith("@dana"), general
    assert "#1" in general
    topic = fake_api.requests_of("createForumTopic")[0].result["message_thread_id"]
    for where in ("warning in topic", "breach in topic", "escalation in topic"):
        assert found[where][0].params["message_thread_id"] == topic
    for where, requests in found.items():
        for r in requests:
            assert LATE_MARK not in str(r.params.get("text")), f"{where} marked late{shown}"
    assert sorted(bot.query("SELECT kind, late FROM sla_alerts")) == [
        ("breach", 0),
        ("escalation", 0),
        ("warning", 0),
    ]


@pytest.mark.slow
async def test_alerts_due_while_the_bot_was_down_arrive_after_restart_marked_late_once(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    # 24 s target: warning at 12 s, breach at 24 s, escalation at 48 s. An alert counts as late
    # when raised more than 2 scans + 5 s (6 s) after its due time. The escalation is far
    # enough after the restart for a slow start (a loaded machine can take 12 s) to be running.
    env = {**CLOCK_ENV, "FIRST_RESPONSE_MINUTES": "0.4"}
    bot = await bot_process_factory(env=env).start()
    date = int(time.time())
    fake_api.push(fake_api.private_message(CLIENT_ID, "Our VM does not boot", date=date))
    await fake_api.wait_for("copyMessage", chat_id=SUPPORT_CHAT_ID, timeout=10)
    assert await bot.stop() == 0
    # Stopped before the warning fell due: nothing was raised while it ran.
    assert alert_counts(fake_api) == dict.fromkeys(alerts(fake_api), 0)
    assert bot.query("SELECT COUNT(*) FROM sla_alerts") == [(0,)]

    await sleep_until(date + 24 + 6 + 1)  # past the breach, far enough to be "late" for both
    restarted_at = time.time()
    await bot.start()
    await fake_api.wait_for(
        lambda r: "target is missed" in str(r.params.get("text")), count=2, timeout=ALERT_WAIT
    )
    found = alerts(fake_api)
    shown = f"\n{describe_alerts(fake_api, date)}\n{bot.tail(30)}"
    for where in ("warning in topic", "breach in topic", "breach in general"):
        assert len(found[where]) == 1, f"{where}: {len(found[where])}{shown}"
        r = found[where][0]
        assert r.time >= restarted_at, f"{where} before the restart{shown}"
        assert LATE_MARK in str(r.params["text"]), f"{where} not marked late{shown}"
    assert str(found["breach in general"][0].params["text"]).endswith("@dana")

    # The escalation falls due (at 48 s) once the bot runs again: not early, once, not late.
    await eventually(
        lambda: bool(alerts(fake_api)["escalation to manager"]),
        bot,
        fake_api,
        "the escalation is sent",
        timeout=ALERT_WAIT,
    )
    await more_scans(bot, fake_api, 3)
    found = alerts(fake_api)
    shown = f"\n{describe_alerts(fake_api, date)}\n{bot.tail(30)}"
    assert len(found["escalation to manager"]) == 1, shown
    escalation = found["escalation to manager"][0]
    assert escalation.time >= date + 48, shown
    assert LATE_MARK not in str(escalation.params["text"]), shown

    # Another restart raises nothing again.
    before = alert_counts(fake_api)
    await bot.restart()
    await more_scans(bot, fake_api, 5)
    assert alert_counts(fake_api) == before, describe_alerts(fake_api, date)
    assert before == {
        "warning in topic": 1,
        "warning in general": 0,
        "breach in topic": 1,
        "breach in general": 1,
        "escalation in topic": 1,
        "escalation in general": 0,
        "escalation to manager": 1,
        "breach to manager": 0,
        "warning to manager": 0,
    }, describe_alerts(fake_api, date)
    assert sorted(bot.query("SELECT kind, late FROM sla_alerts")) == [
        ("breach", 1),
        ("escalation", 0),
        ("warning", 1),
    ]


# -- the outbox under a burst ------------------------------------------------------------------

BURST_CLIENTS = 50
BURST_PER_CLIENT = 4
BURST_TOTAL = BURST_CLIENTS * BURST_PER_CLIENT
BURST_ENV = {
    **BASE_ENV,
    "OUTBOX_OVERALL_PER_SECOND": "30",
    "OUTBOX_PRIVATE_PER_SECOND": "1",
    "OUTBOX_GROUP_PER_MINUTE": "600",
}
# After a 429 the whole support group waits retry_after (Telegram's limit is per chat), so
# with every third call refused throughout, the burst took 65-90 s to get through (~110 429s),
# most of it waiting. 30 429s, over the first 90 calls (when every chat's queue is full and
# the order is most at risk), test the same in a third of the time.
BURST_429S = 30
BURST_TIMEOUT = 150.0
STALL_SECONDS = 10.0


def assert_all_recorded_once(bot: BotProcess, ids: dict[int, list[int]]) -> None:
    rows = bot.query(
        "SELECT chat_id, telegram_message_id FROM messages WHERE direction = 'from_client'"
    )
    assert len(rows) == BURST_TOTAL, f"{len(rows)} client messages recorded"
    assert set(rows) == {(user, m) for user, mids in ids.items() for m in mids}
    assert len(set(rows)) == len(rows), "a client message was recorded twice"


def assert_one_ticket_per_client(bot: BotProcess, ids: dict[int, list[int]]) -> None:
    tickets = bot.query("SELECT client_chat_id, COUNT(*) FROM tickets GROUP BY client_chat_id")
    assert dict(tickets) == dict.fromkeys(ids, 1), f"tickets per client: {tickets}"
    spread = bot.query(
        "SELECT chat_id, COUNT(DISTINCT ticket_id) FROM messages "
        "WHERE direction = 'from_client' GROUP BY chat_id"
    )
    assert dict(spread) == dict.fromkeys(ids, 1), f"tickets per client's messages: {spread}"


def client_topics(bot: BotProcess) -> dict[int, int]:
    """Client index (as in the markers) -> the forum topic of their ticket."""
    return {
        int(chat) - 710000: int(thread)
        for chat, thread in bot.query("SELECT client_chat_id, topic_thread_id FROM tickets")
    }


def group_sends(fake_api: FakeBotAPI) -> list[Request]:
    return [r for r in sends(fake_api) if r.params["chat_id"] == SUPPORT_CHAT_ID]


def client_messages(bot: BotProcess) -> int:
    return count(bot, "SELECT COUNT(*) FROM messages WHERE direction = 'from_client'")


def undelivered(bot: BotProcess) -> int:
    return count(
        bot,
        "SELECT COUNT(*) FROM messages WHERE direction = 'from_client' AND delivery != 'delivered'",
    )


async def wait_all_delivered(bot: BotProcess, fake_api: FakeBotAPI) -> None:
    """Until all burst messages are recorded and delivered; fails at once if delivery stalls.

    With 429s answered with retry_after=1 the outbox must try something at least every few
    seconds: a longer silence while messages wait means the worker is stuck or dead.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BURST_TIMEOUT
    started = time.time()
    while (left := BURST_TOTAL - client_messages(bot) + undelivered(bot)) > 0:
        last_send = max((r.time for r in sends(fake_api, include_failed=True)), default=0.0)
        silent = time.time() - max(last_send, started)
        problem = None
        if silent > STALL_SECONDS:
            problem = f"the outbox stalled: no send for {silent:.0f}s"
        elif loop.time() > deadline:
            problem = f"timed out after {BURST_TIMEOUT}s"
        if problem:
            raise AssertionError(
                f"{problem} while {left} client messages are not recorded or not delivered.\n"
                f"{bot.tail(25)}\n--- fake Bot API ---\n{fake_api.describe(15)}"
            )
        await asyncio.sleep(0.1)


async def settled(bot: BotProcess, fake_api: FakeBotAPI) -> None:
    """Until no outbox row is pending and no send is in flight: after that nothing more can
    be sent, so a message sent twice would be in the fake's log by now."""
    await eventually(
        lambda: (
            count(bot, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == 0
            and not any(r.status == "pending" for r in fake_api.requests if is_send(r))
        ),
        bot,
        fake_api,
        "the outbox has nothing left to send",
        timeout=30,
    )


def is_send(r: Request) -> bool:
    return r.method.lower() in SEND_METHODS and "chat_id" in r.params


@pytest.mark.slow
async def test_a_burst_from_50_clients_under_429s_is_delivered_once_in_order_within_limits(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    bot = await bot_process_factory(env=BURST_ENV).start()
    fault = fake_api.fail_every(3, error_code=429, retry_after=1, times=BURST_429S)
    updates, ids = burst(fake_api, BURST_CLIENTS, BURST_PER_CLIENT)
    pushed_at = time.time()
    fake_api.push(*updates)

    await wait_all_delivered(bot, fake_api)
    await settled(bot, fake_api)
    delivery_report(bot, fake_api, pushed_at, BURST_TOTAL)
    assert fault.fired == BURST_429S, "the burst was delivered before the 429s ran out"
    print(f"  429 answers: {fault.fired}")

    assert_all_recorded_once(bot, ids)
    assert_one_ticket_per_client(bot, ids)
    assert undelivered(bot) == 0

    sequence, threads, copies, merged = deliveries_by_client(fake_api)
    print(f"  copies: {copies}, merged messages: {merged}")
    topics = client_topics(bot)
    expected = list(range(1, BURST_PER_CLIENT + 1))
    wrong = {c: seq for c, seq in sequence.items() if seq != expected}
    assert not wrong, f"clients whose messages reached the group out of order or twice: {wrong}"
    assert set(sequence) == set(range(BURST_CLIENTS))
    misplaced = {c: t for c, t in threads.items() if t != {topics[c]}}
    assert not misplaced, f"copies outside the client's topic: {misplaced}"
    assert len(fake_api.requests_of("createForumTopic")) == BURST_CLIENTS

    limits = check_rate_limits(fake_api, overall_per_second=30, group_per_minute=600)
    print(f"  limits: {limits}")


async def test_texts_waiting_for_the_group_budget_of_20_a_minute_merge_and_none_is_lost(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    # The rows held back by the spent budget cannot go out at the stop: no point waiting.
    env = {**BURST_ENV, "OUTBOX_GROUP_PER_MINUTE": "20", "SHUTDOWN_GRACE_SECONDS": "0.5"}
    bot = await bot_process_factory(env=env).start()
    # Telegram's flood control for the group, so a 21st send in a minute would be refused.
    fake_api.limit_rates(RateLimits(private_per_second=100, group_per_minute=20))
    clients, first, then = 2, 12, 3
    per_client = first + then

    # 2 topics, 2 headers, 24 copies and 22 "client wrote again" notices: the budget of 20
    # is spent within seconds, and the texts still waiting for each topic are merged.
    updates, _ = burst(fake_api, clients, first)
    pushed_at = time.time()
    fake_api.push(*updates)
    await eventually(
        lambda: (
            client_messages(bot) >= clients * first
            and len(group_sends(fake_api)) >= 20
            and count(bot, "SELECT COUNT(*) FROM outbox WHERE status = 'merged'") > 0
        ),
        bot,
        fake_api,
        "the group budget is spent and waiting texts are merged",
    )
    # More texts while the merged message waits for the budget: they join it.
    more = [
        fake_api.private_message(
            710000 + c, f"msg-c{c}-{k} from client {c}", first_name=f"Client {c}"
        )
        for k in range(first + 1, per_client + 1)
        for c in range(clients)
    ]
    fake_api.push(*more)
    await eventually(
        lambda: client_messages(bot) >= clients * per_client,
        bot,
        fake_api,
        "the later client messages are recorded",
    )
    expected = list(range(1, per_client + 1))

    def accounted() -> dict[int, list[int]]:
        """Per client: what reached the group, then the texts still waiting (merged)."""
        sequence, _, _, _ = deliveries_by_client(fake_api)
        waiting: dict[int, list[int]] = defaultdict(list)
        for _row_id, status, payload in sorted(bot.query("SELECT id, status, payload FROM outbox")):
            text = json.loads(payload).get("text")
            if status == "pending" and text:
                for c, k in MARKER.findall(text):
                    waiting[int(c)].append(int(k))
        return {c: sequence[c] + waiting[c] for c in range(clients)}

    # Delivery rounds under the spent budget merge the later texts into the waiting message.
    await eventually(
        lambda: accounted() == dict.fromkeys(range(clients), expected),
        bot,
        fake_api,
        "every client message has reached the group or waits merged, in order",
    )

    group = group_sends(fake_api)
    rows = bot.query("SELECT id, status, payload, merged_into FROM outbox")
    merged_rows = sum(1 for row in rows if row[1] == "merged")
    print(
        f"\n  group sends in {time.time() - pushed_at:.1f}s: {len(group)}, "
        f"outbox rows merged: {merged_rows}"
    )
    assert len(group) <= 20, [r.summary() for r in group]
    assert not fake_api.rate_limited, [r.summary() for r in fake_api.rate_limited]
    check_rate_limits(fake_api, overall_per_second=30, group_per_minute=20)

    # Nothing is lost and each client's order holds: what reached the group, then the texts
    # still waiting (merged, in order), are all of each client's messages.
    payloads = {row[0]: json.loads(row[2]) for row in rows}
    sequence, _, _, _ = deliveries_by_client(fake_api)
    waiting: dict[int, list[int]] = defaultdict(list)
    for row_id, status, _payload, _into in sorted(rows):
        if status == "pending" and payloads[row_id].get("text"):
            for c, k in MARKER.findall(payloads[row_id]["text"]):
                waiting[int(c)].append(int(k))
    for c in range(clients):
        assert sequence[c] + waiting[c] == expected, (c, sequence[c], waiting[c])
        assert waiting[c], f"client {c}: nothing merged"

    # A merged message must name every row merged into it: those rows' client messages are
    # marked delivered when it is sent, and stay "pending" for ever otherwise.
    members: dict[int, set[int]] = defaultdict(set)
    for row_id, status, _payload, into in rows:
        if status == "merged":
            members[int(into)].add(row_id)
    for head, merged in members.items():
        named = set(payloads[head].get("merged_rows", []))
        assert merged <= named, (
            f"outbox row {head} carries the texts of rows {sorted(merged)} but names only "
            f"{sorted(named)} in merged_rows: the client messages of rows "
            f"{sorted(merged - named)} would never be marked delivered"
        )


@pytest.mark.slow
async def test_a_crash_during_the_burst_loses_no_message_and_opens_no_second_ticket(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> None:
    bot = await bot_process_factory(env=BURST_ENV).start()
    fault = fake_api.fail_every(3, error_code=429, retry_after=1, times=BURST_429S)
    updates, ids = burst(fake_api, BURST_CLIENTS, BURST_PER_CLIENT)
    pushed_at = time.time()
    fake_api.push(*updates)
    # Once a polled batch is committed and its sends are going out.
    await eventually(
        lambda: client_messages(bot) > 0 and bool(sends(fake_api, include_failed=True)),
        bot,
        fake_api,
        "the first client messages are recorded and being sent",
    )
    bot.kill()
    assert await bot.wait() != 0
    recorded_before = client_messages(bot)
    print(
        f"\n  killed after {time.time() - pushed_at:.2f}s: {recorded_before} messages recorded, "
        f"{len(sends(fake_api))} sends done, {undelivered(bot)} recorded ones not delivered"
    )
    assert recorded_before < BURST_TOTAL or undelivered(bot) > 0, "the crash came too late"
    await bot.start()

    await wait_all_delivered(bot, fake_api)
    await settled(bot, fake_api)
    delivery_report(bot, fake_api, pushed_at, BURST_TOTAL)
    print(f"  429 answers: {fault.fired}")

    assert_all_recorded_once(bot, ids)
    assert_one_ticket_per_client(bot, ids)
    sequence, threads, copies, merged = deliveries_by_client(fake_api)
    print(f"  copies: {copies}, merged messages: {merged}")
    times = Counter((c, k) for c, seq in sequence.items() for k in seq)
    every = {(c, k) for c in range(BURST_CLIENTS) for k in range(1, BURST_PER_CLIENT + 1)}
    missing = every - set(times)
    assert not missing, f"never reached the group: {sorted(missing)}"
    too_many = {key: n for key, n in times.items() if n > 2}
    assert not too_many, f"delivered more than twice: {too_many}"
    twice = sorted(key for key, n in times.items() if n == 2)
    print(f"  delivered twice (sent just before the crash): {twice}")
    expected = list(range(1, BURST_PER_CLIENT + 1))
    wrong = {c: seq for c, seq in sequence.items() if list(dict.fromkeys(seq)) != expected}
    assert not wrong, f"clients whose messages reached the group out of order: {wrong}"
    topics = client_topics(bot)
    misplaced = {c: t for c, t in threads.items() if t != {topics[c]}}
    assert not misplaced, f"copies outside the client's topic: {misplaced}"
    created = len(fake_api.requests_of("createForumTopic"))
    print(f"  forum topics created: {created} for {BURST_CLIENTS} tickets")
    limits = check_rate_limits(fake_api, overall_per_second=30, group_per_minute=600)
    print(f"  limits: {limits}")
