"""A polled batch's follow-ups (plain texts of clients to their open tickets) are recorded
at once (bot/middlewares.py `take_follow_ups`, crm/usecases/clients_wrote_batch.py): the
same rows as the dispatcher writes handling each update alone, in the same order."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update
from aiogram.utils.i18n import I18n

import bot.handlers.client.messages as client_messages
from bot.polling import handle_batch
from bot.settings import BotSettings
from crm.db import make_engine, make_sessionmaker, upgrade_database_async
from crm.outbox import Outbox
from crm.verify import Verified, verify_chain
from tests.conftest import MANAGER_ID, SUPPORT_CHAT_ID, Desk, Updates
from tests.db import create_database, drop_database, rows
from tests.mocked_bot import MockedBot

ANSWERED, WAITING, NEWCOMER, RESOLVED, ASKED_NEW, RENAMED, OTHER = range(700001, 700008)

# What each table holds, in id order; the columns a clock fills (when the row was written,
# not what it says) are left out: the two desks run moments apart.
TABLES = {
    "contacts": "id, telegram_user_id, full_name, username, telegram_language, customer_id",
    "tickets": "id, channel, category, status, contact_id, client_chat_id, opened_at, "
    "response_due_at, first_response_at, resolved_at, closed_at, support_chat_id, "
    "topic_thread_id, header_message_id, gathered_in_id",
    "messages": "id, ticket_id, direction, sender_telegram_id, chat_id, telegram_message_id, "
    "update_id, content_type, text, file_ids, telegram_date, copy_chat_id, copy_message_id, "
    "delivery",
    "ticket_events": "id, ticket_id, kind, actor_telegram_id, actor_role, actor_name, "
    "evidence_at, details",
    "outbox": "id, chat_id, method, purpose, payload, ticket_id, incident_id, to_topic, "
    "message_row_id, status, attempts",
    "processed_updates": "update_id",
    "evidence_chain": "seq, table_name, row_id",
}


# Row ids a rolled-back insert may have used up (a PostgreSQL sequence is not rolled back).
# One commit for the whole batch, both ways: the evidence chain is compared row by row, and
# where a time-sliced batch commits (bot/polling.py) depends on the machine's speed.
ONE_SLICE: dict[str, Any] = {"slice_seconds": math.inf}
ROW_IDS = {"messages": ("id",), "outbox": ("id", "message_row_id"), "evidence_chain": ("row_id",)}


def everything(database_url: str, *, row_ids: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for table, columns in TABLES.items():
        names = [name.strip() for name in columns.split(",")]
        if not row_ids:
            names = [name for name in names if name not in ROW_IDS.get(table, ())]
        order = columns.split(",")[0]
        found[table] = rows(
            database_url, f"select {', '.join(names)} from {table} order by {order}"
        )
    return found


class Twin:
    """One desk on its own fresh database."""

    def __init__(self, url: str, desk: Desk, bot: MockedBot) -> None:
        self.url, self.desk, self.bot = url, desk, bot


@pytest.fixture
async def twins(tmp_path: Path, i18n: I18n) -> AsyncIterator[list[Twin]]:
    made: list[Twin] = []
    engines = []
    for name in ("batched", "dispatched"):
        (tmp_path / name).mkdir()
        url = create_database(tmp_path / name)
        await upgrade_database_async(url)
        engine = make_engine(url)
        engines.append(engine)
        settings = BotSettings(
            _env_file=None,  # type: ignore[call-arg]
            bot_token="123456:TEST-TOKEN",
            support_chat_id=SUPPORT_CHAT_ID,
            manager_ids=str(MANAGER_ID),
            database_url=url,
            send_backoff_seconds=0,
        )
        bot = MockedBot()
        made.append(Twin(url, Desk(settings, make_sessionmaker(engine), i18n, bot), bot))
    yield made
    for engine, twin in zip(engines, made, strict=True):
        await engine.dispose()
        drop_database(twin.url)
        assert not twin.bot.session.violations, "\n".join(twin.bot.session.violations)


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many messages each call of the batch path recorded."""
    counts: list[int] = []
    original = client_messages.clients_wrote_batch

    async def counting(*args: Any, **kwargs: Any) -> Any:
        outcomes = await original(*args, **kwargs)
        counts.append(len(outcomes))
        return outcomes

    monkeypatch.setattr(client_messages, "clients_wrote_batch", counting)
    yield counts


def topic_of(twin: Twin, client: int) -> int:
    [(thread,)] = rows(
        twin.url,
        "select t.topic_thread_id from tickets t join contacts c on c.id = t.contact_id "
        "where c.telegram_user_id = ? and t.status = 'open'",
        (client,),
    )
    return int(thread)


async def before_the_batch(twins: list[Twin], updates: Updates) -> None:
    """The same history on both desks, each update alone, every send done."""

    async def each(update: Update | None = None, *, topic_reply: tuple[int, str] | None = None):
        for twin in twins:
            if topic_reply is None:
                assert update is not None
                await twin.desk.feed_update(twin.bot, update)
        if topic_reply is not None:
            client, text = topic_reply
            thread = topic_of(twins[0], client)
            update = updates.group(text, thread_id=thread)
            for twin in twins:
                assert topic_of(twin, client) == thread
                await twin.desk.feed_update(twin.bot, update)

    for client in (ANSWERED, WAITING, RESOLVED, ASKED_NEW):
        await each(updates.private(client, f"hello from {client}"))
    await each(updates.private(RENAMED, "hello", first_name="Dana"))
    await each(topic_reply=(ANSWERED, "Looking at it"))
    await each(topic_reply=(RESOLVED, "/resolve"))
    await each(updates.private(ASKED_NEW, "/new"))


def the_batch(updates: Updates) -> list[Update]:
    later = updates.now + timedelta(minutes=7)
    return [
        updates.private(WAITING, "w1", date=later),
        updates.private(ANSWERED, "a1", date=later),
        updates.private(NEWCOMER, "n1 opens a ticket", date=later),
        updates.private(WAITING, "w2", date=later + timedelta(seconds=5)),
        updates.private(NEWCOMER, "n2 joins it", date=later),
        updates.private(RESOLVED, "r1 reopens", date=later),
        updates.private(RESOLVED, "r2", date=later),
        updates.private(ASKED_NEW, "opens the new ticket", date=later),
        updates.private(RENAMED, "from a new name", first_name="Dana B.", date=later),
        updates.private(OTHER, "/tickets", date=later),
        updates.private(ANSWERED, "a2", date=later + timedelta(minutes=1)),
        updates.group("a note for the others", date=later),
        updates.private(WAITING, "w3", date=later + timedelta(minutes=2)),
        updates.private(ANSWERED, "a3", date=later + timedelta(minutes=2)),
        updates.private(WAITING, "/close", date=later + timedelta(minutes=3)),
        updates.private(WAITING, "w4 after closing", date=later + timedelta(minutes=3)),
    ]


async def test_the_batch_path_writes_what_the_dispatcher_writes_update_by_update(
    twins: list[Twin], updates: Updates, taken: list[int]
) -> None:
    await before_the_batch(twins, updates)
    batch = the_batch(updates)
    batched, dispatched = twins

    await handle_batch(
        batched.desk.dispatcher, batched.bot, batched.desk.worker.sessionmaker, batch, **ONE_SLICE
    )
    assert sum(taken) > 0, "the batch path took nothing: the test would prove nothing"
    await handle_batch(
        dispatched.desk.dispatcher,
        dispatched.bot,
        dispatched.desk.worker.sessionmaker,
        batch,
        follow_ups=False,
        **ONE_SLICE,
    )

    # What is queued (not sent yet) is compared as well as what is recorded.
    assert everything(batched.url) == everything(dispatched.url)
    # The follow-ups of waiting clients tell the engineers they still wait, as always.
    notices = rows(batched.url, "select payload from outbox where purpose = 'notice'")
    waiting = [payload for (payload,) in notices if "wrote again" in json.loads(payload)["text"]]
    # w1, w2, w3, the newcomer's n2, r2 (its reopening r1 says so instead) and the renamed
    # client's; not a1..a3 (answered), nor the messages that open a ticket.
    assert len(waiting) == 6
    async with batched.desk.worker.sessionmaker() as session:
        assert isinstance(await verify_chain(session), Verified)

    for twin in twins:
        await twin.desk.worker.drain(timeout=10)
    assert everything(batched.url) == everything(dispatched.url)
    sent = [[(type(m).__name__, m.model_dump()) for m in t.bot.session.requests] for t in twins]
    assert sent[0] == sent[1]


async def test_a_redelivered_batch_records_nothing_twice(
    twins: list[Twin], updates: Updates, taken: list[int]
) -> None:
    await before_the_batch(twins, updates)
    batch = the_batch(updates)
    batched = twins[0]
    sessionmaker = batched.desk.worker.sessionmaker

    await handle_batch(batched.desk.dispatcher, batched.bot, sessionmaker, batch, **ONE_SLICE)
    first = everything(batched.url)
    await handle_batch(batched.desk.dispatcher, batched.bot, sessionmaker, batch, **ONE_SLICE)

    assert everything(batched.url) == first
    counted = batched.desk.metrics.updates
    assert counted.labels(result="duplicate")._value.get() == len(batch)


async def test_a_client_s_first_message_and_follow_ups_in_one_batch_keep_their_order(
    twins: list[Twin], updates: Updates, taken: list[int]
) -> None:
    batched = twins[0]
    sessionmaker = batched.desk.worker.sessionmaker
    batch = [
        updates.private(NEWCOMER, "first"),
        updates.private(NEWCOMER, "second"),
        updates.private(OTHER, "hello"),
        updates.private(NEWCOMER, "third"),
        updates.private(OTHER, "again"),
        updates.private(NEWCOMER, "fourth"),
    ]
    await handle_batch(batched.desk.dispatcher, batched.bot, sessionmaker, batch, **ONE_SLICE)

    # second; then, once "hello" opened the other client's ticket, the last three at once.
    assert [count for count in taken if count] == [1, 3]
    recorded = rows(
        batched.url,
        "select m.text, o.id from messages m join outbox o on o.message_row_id = m.id "
        "and o.method = 'copyMessage' order by m.id",
    )
    assert [text for text, _copy in recorded] == [
        "first",
        "second",
        "hello",
        "third",
        "again",
        "fourth",
    ]
    copies = [copy for _text, copy in recorded]
    assert copies == sorted(copies)
    await batched.desk.worker.drain(timeout=10)
    copies = [
        m.message_id
        for m in batched.bot.session.sent("copyMessage")
        if m.chat_id == SUPPORT_CHAT_ID and m.from_chat_id == NEWCOMER
    ]
    assert copies == sorted(copies) and len(copies) == 4


async def test_a_batch_path_that_fails_midway_keeps_nothing_and_the_dispatcher_takes_over(
    twins: list[Twin], updates: Updates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its messages were inserted (and waiting to be chained) when the outbox rows failed:
    the SAVEPOINT is rolled back, the chain leaves them out, every update is dispatched."""
    await before_the_batch(twins, updates)
    batch = the_batch(updates)
    batched, dispatched = twins

    write_gathered = Outbox.write_gathered
    failed: list[Outbox] = []

    async def broken(self: Outbox) -> None:
        # The batch path's write, the first, fails; the updates dispatched after it write.
        if not failed:
            failed.append(self)
            raise RuntimeError("the disk is full")
        await write_gathered(self)

    monkeypatch.setattr(Outbox, "write_gathered", broken)
    await handle_batch(
        batched.desk.dispatcher, batched.bot, batched.desk.worker.sessionmaker, batch, **ONE_SLICE
    )
    monkeypatch.undo()
    await handle_batch(
        dispatched.desk.dispatcher,
        dispatched.bot,
        dispatched.desk.worker.sessionmaker,
        batch,
        follow_ups=False,
        **ONE_SLICE,
    )

    assert everything(batched.url, row_ids=False) == everything(dispatched.url, row_ids=False)
    async with batched.desk.worker.sessionmaker() as session:
        assert isinstance(await verify_chain(session), Verified)
