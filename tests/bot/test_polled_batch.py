"""A polled batch (bot/polling.py): one transaction for its updates, its senders' contacts
read once for all of them; each update still sees what the ones before it did."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import polling
from bot.polling import WriteGate, handle_batch
from crm.contacts import ContactService
from crm.dto import TelegramUser
from crm.outbox import Outbox
from tests.conftest import Desk, Updates
from tests.db import postgres_server, rows
from tests.mocked_bot import MockedBot

CLIENT = 700001
NEWCOMER = 700002


def said_to(bot: MockedBot, chat_id: int) -> list[str]:
    return [m.text for m in bot.session.sent("sendMessage") if m.chat_id == chat_id]


async def test_a_batch_answers_each_client_in_their_language_and_opens_one_ticket_each(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    # Known before the batch: a client who chose Russian in an English Telegram app.
    await dispatcher.feed_update(bot, updates.private(CLIENT, "/lang"))
    await dispatcher.feed_update(bot, updates.callback(CLIENT, "lang:ru", message_id=5))

    batch = [
        updates.private(NEWCOMER, "first", language_code="kk"),
        updates.private(CLIENT, "hello"),
        updates.private(NEWCOMER, "second", language_code="kk"),
        updates.private(NEWCOMER, "/lang", language_code="kk"),
    ]
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, batch)
    await dispatcher.worker.drain(timeout=10)

    assert said_to(bot, CLIENT)[-1].startswith("Обращение #")
    # A contact made earlier in the same batch is found by the updates after it: the
    # newcomer's second message joins the ticket the first one opened.
    newcomer = said_to(bot, NEWCOMER)
    assert [text for text in newcomer if "өтінім ашылды" in text] == [newcomer[0]]
    assert rows(
        database_url,
        "select c.telegram_user_id, count(distinct m.ticket_id), count(*) from messages m "
        "join tickets t on t.id = m.ticket_id join contacts c on c.id = t.contact_id "
        "where m.direction = 'from_client' group by c.telegram_user_id order by 1",
    ) == [(CLIENT, 1, 1), (NEWCOMER, 1, 2)]
    assert rows(database_url, "select count(*) from contacts") == [(2,)]


async def test_a_batch_replayed_records_nothing_twice(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    batch = [updates.private(NEWCOMER, "one"), updates.private(NEWCOMER, "two")]
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, batch)
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, batch)  # Telegram resent it

    assert rows(database_url, "select count(*) from messages where direction = 'from_client'") == [
        (2,)
    ]
    assert rows(database_url, "select count(*) from tickets") == [(1,)]


async def test_a_long_batch_commits_as_it_goes_so_the_first_reports_can_be_answered_meanwhile(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    gate = asyncio.Lock()
    seen_at_commits: list[tuple[int, bool]] = []

    def committed() -> None:
        # What another connection (the outbox worker's) can read now, and whether it could
        # take the write lock.
        [(recorded,)] = rows(
            database_url, "select count(*) from messages where direction = 'from_client'"
        )
        seen_at_commits.append((recorded, gate.locked()))

    batch = [updates.private(client, "down?") for client in (700001, 700002, 700003)]
    # A slice of no time: every update ends one (a storm's slices hold many).
    await handle_batch(
        dispatcher.dispatcher, bot, sessionmaker, batch,
        write_gate=gate, on_commit=committed, slice_seconds=0.0,
    )  # fmt: skip
    again = [updates.private(client, "still down") for client in (700001, 700002)]
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, again, on_commit=committed)
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, batch)  # Telegram resent it

    assert seen_at_commits == [(1, False), (2, False), (3, False), (5, False)]
    assert rows(database_url, "select count(*) from messages where direction = 'from_client'") == [
        (5,)
    ]


class TakenGate(WriteGate):
    def __init__(self) -> None:
        super().__init__()
        self.taken = asyncio.Event()

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self.taken.set()
        return True


async def test_a_slice_gives_way_to_a_writer_waiting_for_the_database(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During a storm the outbox waits for the write gate to take its rows and to record
    what it sent: a slice that would hold it for long commits as soon as someone waits
    (here at once; the bot lets a slice have 0.1 s first), and the waiter goes next."""
    monkeypatch.setattr(polling, "SHORTEST_SLICE_SECONDS", 0.0)
    gate = TakenGate()
    seen_by_waiter: list[int] = []

    async def outbox_round() -> None:
        await gate.taken.wait()  # by the batch
        async with gate:
            [(recorded,)] = rows(
                database_url, "select count(*) from messages where direction = 'from_client'"
            )
            seen_by_waiter.append(recorded)

    batch = [updates.private(700100 + n, "down?") for n in range(20)]
    waiter = asyncio.create_task(outbox_round())
    # A slice long enough for the whole batch, were nobody waiting.
    await handle_batch(
        dispatcher.dispatcher, bot, sessionmaker, batch, write_gate=gate, slice_seconds=60.0
    )
    await waiter

    assert seen_by_waiter and 1 <= seen_by_waiter[0] < len(batch)
    assert rows(database_url, "select count(*) from messages where direction = 'from_client'") == [
        (len(batch),)
    ]


async def test_an_update_retried_after_a_conflict_queues_each_message_once(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An update's outbox rows are written together as it ends. Another instance writing
    a row of ours first fails that attempt after its rows were queued: the retry queues
    them again, and what the failed attempt had queued is not written with them."""
    write_gathered = Outbox.write_gathered
    conflicts: list[int] = []

    async def conflict_once(self: Outbox) -> None:
        if not conflicts:
            conflicts.append(1)
            raise IntegrityError("INSERT INTO outbox", {}, Exception("another instance"))
        await write_gathered(self)

    monkeypatch.setattr(Outbox, "write_gathered", conflict_once)
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, [updates.private(NEWCOMER, "hi")])
    await dispatcher.worker.drain(timeout=10)

    assert conflicts == [1]
    assert sorted(rows(database_url, "select method, purpose from outbox")) == [
        ("copyMessage", "copy_in"),
        ("createForumTopic", "topic"),
        ("sendMessage", "bot"),
        ("sendMessage", "header"),
    ]
    assert len([text for text in said_to(bot, NEWCOMER) if "is open" in text]) == 1


@pytest.mark.skipif(postgres_server() is None, reason="two instances at once: PostgreSQL only")
async def test_a_newcomer_another_instance_wrote_down_since_the_batch_began_is_not_lost(
    dispatcher: Desk,
    bot: MockedBot,
    updates: Updates,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch read its senders' contacts at its start and found none for the newcomer;
    another instance then wrote theirs (a /start it took). Our first try fails on the
    contact's unique id; the retry asks again, finds it and opens the ticket for it."""
    preload = ContactService.preload

    async def other_instance_writes_the_contact(self: ContactService, ids: set[int]) -> None:
        await preload(self, ids)
        async with sessionmaker() as other:
            await ContactService(other).ensure(TelegramUser(NEWCOMER, "Newcomer", None, "en"))
            await other.commit()

    monkeypatch.setattr(ContactService, "preload", other_instance_writes_the_contact)
    await handle_batch(dispatcher.dispatcher, bot, sessionmaker, [updates.private(NEWCOMER, "hi")])
    await dispatcher.worker.drain(timeout=10)

    assert rows(
        database_url,
        "select count(distinct c.id), count(t.id), count(m.id) from contacts c"
        " left join tickets t on t.contact_id = c.id left join messages m"
        " on m.ticket_id = t.id and m.direction = 'from_client'",
    ) == [(1, 1, 1)]
    assert len([text for text in said_to(bot, NEWCOMER) if "is open" in text]) == 1
