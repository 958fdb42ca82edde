"""The evidence log is a hash chain: `python -m crm verify` finds any row changed, deleted
or added behind the application's back, and the report carries the head it vouches for."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.db import downgrade_database, make_engine, make_sessionmaker, upgrade_database
from crm.dto import IncomingMessage
from crm.incidents import IncidentService, Report
from crm.models import EvidenceLink, NoticeSource, Service, TicketEvent
from crm.tickets import TicketService
from sla.model import Layer
from tests.crm.usecase_fixtures import CLIENT, ENGINEER, NINE, linked_client, said
from tests.db import execute, postgres_server, rows

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def crm(tmp_path: Path, database_url: str) -> Cli:
    def run(*args: str, url: str = database_url) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": url}
        return subprocess.run(
            [sys.executable, "-m", "crm", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def engineer_said(text: str, message_id: int) -> IncomingMessage:
    return IncomingMessage(
        chat_id=-1001000000001,
        message_id=message_id,
        sender=ENGINEER,
        content_type="text",
        telegram_date=NINE + timedelta(minutes=4),
        text=text,
    )


async def a_morning_of_evidence(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """A ticket with two client messages, an engineer reply, an incident; the row count."""
    async with sessionmaker() as session:
        await linked_client(session, services=1)
        tickets = TicketService(session)
        ticket = (await tickets.record_client_message(said("rack-1 is down", 0))).ticket
        await tickets.record_client_message(said("still down", 2))
        await tickets.record_engineer_message(ticket.id, engineer_said("on it", 1), internal=False)
        service_id = await session.scalar(select(Service.id))
        assert service_id is not None
        incidents = IncidentService(session)
        placed = await incidents.report(
            Report(service_id, NoticeSource.CLIENT, NINE, ticket, CLIENT)
        )
        incident = placed.incident
        await incidents.confirm(incident, Layer.HARDWARE, ENGINEER, NINE + timedelta(minutes=5))
        await session.commit()
    counted = rows(
        str(sessionmaker.kw["bind"].url.render_as_string(hide_password=False)),
        "SELECT (SELECT COUNT(*) FROM ticket_events) + (SELECT COUNT(*) FROM incident_events)"
        " + (SELECT COUNT(*) FROM messages)",
    )
    return int(counted[0][0])


def behind_the_triggers(database_url: str, table: str, statement: str) -> None:
    """What someone with the database file and a shell could do."""
    if database_url.startswith("sqlite"):
        execute(
            database_url,
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
            statement,
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        )
    else:
        execute(
            database_url,
            f"ALTER TABLE {table} DISABLE TRIGGER USER",
            statement,
            f"ALTER TABLE {table} ENABLE TRIGGER USER",
        )


def verified(crm: Cli, *args: str, url: str | None = None) -> dict[str, Any]:
    result = crm("verify", "--json", *args, **({"url": url} if url else {}))
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def broken(crm: Cli) -> dict[str, Any]:
    result = crm("verify", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def head_of(database_url: str) -> str:
    return str(rows(database_url, "SELECT chain_hash FROM evidence_chain_head")[0][0])


async def test_a_clean_database_verifies_printing_the_count_and_the_head(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    count = await a_morning_of_evidence(sessionmaker)
    assert count >= 6
    answer = verified(crm)
    assert answer == {"verified": True, "rows": count, "head": head_of(database_url)}
    text = crm("verify")
    assert text.returncode == 0
    assert text.stdout.strip() == f"verified {count} evidence rows; head {answer['head']}"


async def test_an_event_time_changed_behind_the_triggers_back_is_named(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    behind_the_triggers(
        database_url,
        "ticket_events",
        "UPDATE ticket_events SET evidence_at = '2026-11-02 08:00:00' WHERE id = 1",
    )
    answer = broken(crm)
    assert (answer["problem"], answer["table"], answer["row_id"]) == (
        "content changed",
        "ticket_events",
        1,
    )
    assert "ticket_events id 1" in answer["error"]


async def test_a_message_text_changed_is_named(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    execute(database_url, "UPDATE messages SET text = 'all fine' WHERE id = 2")
    answer = broken(crm)
    assert (answer["problem"], answer["table"], answer["row_id"]) == (
        "content changed",
        "messages",
        2,
    )


async def test_a_delivery_status_changing_is_not_tampering(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    count = await a_morning_of_evidence(sessionmaker)
    execute(database_url, "UPDATE messages SET delivery = 'delivered', copy_message_id = 77")
    assert verified(crm)["rows"] == count


async def test_a_deleted_message_is_found(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    execute(database_url, "DELETE FROM messages WHERE id = 1")
    answer = broken(crm)
    assert (answer["problem"], answer["table"], answer["row_id"]) == ("row missing", "messages", 1)


async def test_a_row_added_past_the_application_is_not_in_the_chain(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    execute(
        database_url,
        "INSERT INTO ticket_events (ticket_id, kind, actor_role, evidence_at, recorded_at,"
        " details) VALUES (1, 'resolved', 'engineer', '2026-11-02 09:03:00',"
        " '2026-11-02 09:03:00', '{}')",
    )
    answer = broken(crm)
    assert (answer["problem"], answer["table"]) == ("not in the chain", "ticket_events")


async def test_chain_entries_cannot_be_edited_or_deleted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await a_morning_of_evidence(sessionmaker)
    for statement in ("UPDATE evidence_chain SET row_hash = 'x'", "DELETE FROM evidence_chain"):
        async with sessionmaker() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))


async def test_an_entry_cut_off_the_end_breaks_the_chain(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    last = rows(database_url, "SELECT MAX(seq) FROM evidence_chain")[0][0]
    behind_the_triggers(
        database_url, "evidence_chain", f"DELETE FROM evidence_chain WHERE seq = {last}"
    )
    answer = broken(crm)
    assert answer["problem"] in ("entry missing", "not in the chain")


async def test_a_savepoint_rolled_back_leaves_no_entry(
    sessionmaker: async_sessionmaker[AsyncSession], crm: Cli
) -> None:
    count = await a_morning_of_evidence(sessionmaker)
    async with sessionmaker() as session:
        tickets = TicketService(session)
        ticket_id = (await tickets.record_client_message(said("one more", 6))).ticket.id
        savepoint = await session.begin_nested()
        await tickets.record_client_message(said("never happened", 7))
        await savepoint.rollback()
        await tickets.record_engineer_message(ticket_id, engineer_said("done", 8), internal=True)
        await session.commit()
    assert verified(crm)["rows"] == count + 2


async def test_verify_from_a_date_starts_at_the_first_entry_chained_that_day(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    count = await a_morning_of_evidence(sessionmaker)
    assert verified(crm, "--from", "2000-01-01")["rows"] == count
    assert verified(crm, "--from", "2999-01-01") == {
        "verified": True,
        "rows": 0,
        "head": head_of(database_url),
    }


async def test_the_migration_chains_the_rows_a_database_already_has(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, crm: Cli
) -> None:
    count = await a_morning_of_evidence(sessionmaker)
    await asyncio.to_thread(downgrade_database, database_url, "0005")
    await asyncio.to_thread(upgrade_database, database_url)
    assert verified(crm)["rows"] == count
    async with sessionmaker() as session:
        order = (
            (await session.execute(select(EvidenceLink.table_name).order_by(EvidenceLink.seq)))
            .scalars()
            .all()
        )
    assert order == sorted(order, key=("ticket_events", "incident_events", "messages").index)


async def test_the_report_json_carries_the_head_verify_prints(
    sessionmaker: async_sessionmaker[AsyncSession], crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    head = verified(crm)["head"]
    report = crm("report", "--month", "2026-11", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["evidence_head"] == head
    csv = crm("report", "--month", "2026-11", "--format", "csv")
    assert csv.stdout.splitlines()[-1] == f"evidence_head,{head}"
    text = crm("report", "--month", "2026-11")
    assert f"Evidence chain head: {head}" in text.stdout


@pytest.mark.skipif(postgres_server() is None, reason="needs TEST_POSTGRES_URL")
async def test_concurrent_appends_on_postgresql_keep_one_chain(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession], crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    engines = [make_engine(database_url) for _ in range(2)]

    async def writer(index: int) -> None:
        makers = make_sessionmaker(engines[index])
        for number in range(25):
            async with makers() as session:
                ticket_id = await session.scalar(select(TicketEvent.ticket_id).limit(1))
                assert ticket_id is not None
                await TicketService(session).record_engineer_message(
                    ticket_id, engineer_said(f"w{index} {number}", 1000 * (index + 1) + number),
                    internal=True,
                )  # fmt: skip
                await asyncio.sleep(0)
                await session.commit()

    try:
        await asyncio.gather(*(writer(index) for index in range(2)))
    finally:
        for engine in engines:
            await engine.dispose()
    answer = verified(crm)
    seqs = rows(database_url, "SELECT seq FROM evidence_chain ORDER BY seq")
    assert [seq for (seq,) in seqs] == list(range(1, answer["rows"] + 1))


@pytest.mark.skipif(postgres_server() is not None, reason="the SQLite online backup")
async def test_a_backup_taken_while_the_bot_writes_restores_and_verifies(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, crm: Cli
) -> None:
    await a_morning_of_evidence(sessionmaker)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        written = 0
        while not stop.is_set():
            async with sessionmaker() as session:
                tickets = TicketService(session)
                await tickets.record_client_message(said(f"ping {written}", 10 + written))
                await session.commit()
            written += 1
            await asyncio.sleep(0.005)
        return written

    writing = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.3)
    backup = await asyncio.to_thread(crm, "backup", "copy.db", "--json")
    stop.set()
    written = await writing
    assert backup.returncode == 0, backup.stderr
    taken = json.loads(backup.stdout)
    assert written > 0
    copy_url = f"sqlite+aiosqlite:///{tmp_path}/copy.db"
    answer = verified(crm, url=copy_url)
    assert (answer["rows"], answer["head"]) == (taken["entries"], taken["head"])


def test_backup_of_postgresql_points_at_pg_dump(crm: Cli) -> None:
    result = crm("backup", "copy.dump", url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert "pg_dump" in result.stderr and "pg_restore" in result.stderr
