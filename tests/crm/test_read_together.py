"""Parts of one report read on separate connections (`crm.db.read_together`) read the
database as of one moment, even when a writer commits while they begin."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.db import SnapshotNotShared, make_engine, read_together
from crm.report_cli import _stopped
from tests.db import execute, postgres_server, rows


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    execute(database_url, "CREATE TABLE marks (id INTEGER PRIMARY KEY)")
    engine = make_engine(database_url, reads_only=True)
    yield engine
    await engine.dispose()


def _write_now(database_url: str, mark: int) -> str:
    """A writer's commit, made at once or refused at once: "committed" or the reason."""
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        assert path is not None
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            connection.execute("INSERT INTO marks (id) VALUES (?)", (mark,))
        except sqlite3.OperationalError as error:
            return str(error)
        finally:
            connection.close()
        return "committed"
    execute(database_url, f"INSERT INTO marks (id) VALUES ({mark})")
    return "committed"


async def _marks(connection: AsyncConnection) -> list[int]:
    return list((await connection.scalars(text("SELECT id FROM marks ORDER BY id"))).all())


async def test_connections_read_one_moment_though_a_writer_commits_as_they_begin(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits just before the second connection begins its transaction (after
    the first has begun its own): neither sees the row, so the tickets counted on one and
    the services read on the other describe the same database."""
    execute(database_url, "INSERT INTO marks (id) VALUES (1)")
    writes: list[str] = []
    sqlite = database_url.startswith("sqlite")
    begun = 0
    exec_driver_sql = AsyncConnection.exec_driver_sql

    async def write_before_the_second_begins(self: AsyncConnection, *args: Any, **kw: Any) -> Any:
        # SQLite begins each connection by reading the schema; PostgreSQL's later
        # connections begin by taking the first one's snapshot.
        nonlocal begun
        begun += 1
        if begun == (2 if sqlite else 1):
            writes.append(_write_now(database_url, 2))
        return await exec_driver_sql(self, *args, **kw)

    monkeypatch.setattr(AsyncConnection, "exec_driver_sql", write_before_the_second_begins)
    async with read_together(engine, 3) as connections:
        monkeypatch.undo()
        # The writers are not held while the parts read, and what they write now is
        # after the moment all of them read (before any of them has read a mark).
        assert _write_now(database_url, 3) == "committed"
        seen = [await _marks(connection) for connection in connections]

    assert seen == [[1], [1], [1]]
    if sqlite:
        # The writer was turned away (it would have waited, with a busy timeout) while
        # the connections began, then wrote.
        assert writes == ["database is locked"]
        assert rows(database_url, "SELECT id FROM marks ORDER BY id") == [(1,), (3,)]
    else:
        assert writes == ["committed"]
        assert rows(database_url, "SELECT id FROM marks ORDER BY id") == [(1,), (2,), (3,)]


async def test_a_reads_only_connection_reads_one_moment_from_first_statement_to_last(
    engine: AsyncEngine, database_url: str
) -> None:
    """One report's transaction (PostgreSQL's default would read each statement anew)."""
    async with engine.connect() as connection:
        assert await _marks(connection) == []
        execute(database_url, "INSERT INTO marks (id) VALUES (1)")
        assert await _marks(connection) == []
    async with engine.connect() as connection:
        assert await _marks(connection) == [1]


@pytest.mark.skipif(postgres_server() is not None, reason="SQLite's write lock")
async def test_a_writer_holding_the_lock_too_long_is_not_waited_for(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connections begin while the write lock is held off writers; a writer that
    holds it past `GATE_WAIT_MS` makes `read_together` give up at once, before anything
    is read, and the report reads on one connection instead (crm/report_cli.py)."""
    monkeypatch.setattr("crm.db.GATE_WAIT_MS", 50)
    async with engine.connect() as connection:  # the database in WAL mode, as the bot leaves it
        assert await _marks(connection) == []
    path = make_url(database_url).database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SnapshotNotShared, match="database is locked"):
            async with read_together(engine, 2):
                pytest.fail("the connections were handed out without a shared snapshot")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    async with read_together(engine, 2) as connections:
        assert [await _marks(connection) for connection in connections] == [[], []]


@pytest.mark.skipif(postgres_server() is not None, reason="SQLite's write lock")
async def test_a_database_opened_read_only_shares_no_snapshot(database_url: str) -> None:
    """Opened read-only, BEGIN IMMEDIATE takes no lock and holds no writer off: no
    promise is made that cannot be kept."""
    execute(database_url, "CREATE TABLE marks (id INTEGER PRIMARY KEY)")
    path = make_url(database_url).database
    read_only = make_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", reads_only=True)
    try:
        with pytest.raises(SnapshotNotShared, match="not opened for writing"):
            async with read_together(read_only, 2):
                pytest.fail("the connections were handed out without a shared snapshot")
    finally:
        await read_only.dispose()


@pytest.mark.skipif(postgres_server() is not None, reason="SQLite's thread")
async def test_a_count_no_longer_needed_is_stopped_not_run_to_its_end(
    engine: AsyncEngine,
) -> None:
    """A report that fails before it needs its tickets (an unknown customer, a full disk)
    stops their count: cancelling the task alone would leave SQLite's thread running the
    statement to its end, and the command waiting for it. Here the statement would run
    for hours."""
    endless = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    )
    async with read_together(engine, 2) as (_, counting):
        count = asyncio.create_task(counting.scalar(endless))
        await asyncio.sleep(0)  # the statement is handed to SQLite's thread
        await _stopped(count, counting)

    assert not count.cancelled()
    error = count.exception()
    assert isinstance(error, OperationalError) and "interrupted" in str(error)
