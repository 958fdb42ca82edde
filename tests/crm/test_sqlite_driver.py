"""SQLite statements in one trip each to aiosqlite's thread (crm/sqlite_driver.py), with
everything SQLAlchemy reads from a statement as its own cursor gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db import make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("create table things (id integer primary key, name text unique not null)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls run in aiosqlite's thread, by name."""
    made: list[str] = []
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await execute(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


async def test_each_statement_is_one_trip_to_sqlites_thread(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as connection:
        trips.clear()  # (the BEGIN)
        await connection.execute(text("insert into things (name) values ('a')"))
        await connection.execute(text("select id, name from things"))
        await connection.execute(text("update things set name = 'b'"))

    # Three statements, three trips (and the transaction's end); SQLAlchemy's own cursor
    # makes three or four a statement (if this fails, aiosqlite renamed what the driver
    # uses: see its module).
    assert [trip for trip in trips if trip not in ("commit", "rollback")] == ["_run_statement"] * 3


async def test_a_statement_gives_its_rows_ids_and_counts_as_before(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(
            text("insert into things (name) values ('a'), ('b') returning id, name")
        )
        assert inserted.all() == [(1, "a"), (2, "b")]
        single = await connection.execute(text("insert into things (name) values ('c')"))
        assert single.lastrowid == 3
        many = await connection.execute(
            text("insert into things (name) values (:name)"), [{"name": "d"}, {"name": "e"}]
        )
        assert many.rowcount == 2
        updated = await connection.execute(text("update things set name = name || '!'"))
        assert updated.rowcount == 5
        rows = await connection.execute(text("select name from things order by id"))
        assert rows.fetchmany(2) == [("a!",), ("b!",)]
        assert rows.fetchall() == [("c!",), ("d!",), ("e!",)]
        none = await connection.execute(text("select name from things where id = 99"))
        assert none.first() is None


async def test_a_failing_statement_raises_as_before_and_the_connection_goes_on(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("insert into things (name) values ('a')"))
        savepoint = await connection.begin_nested()
        with pytest.raises(IntegrityError):
            await connection.execute(text("insert into things (name) values ('a')"))
        await savepoint.rollback()
        await connection.execute(text("insert into things (name) values ('b')"))
    async with engine.connect() as connection:
        names = await connection.scalars(text("select name from things order by id"))
        assert names.all() == ["a", "b"]


async def test_a_streamed_result_still_comes_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("insert into things (name) values (:name)"),
            [{"name": f"n{i}"} for i in range(250)],
        )
    async with engine.connect() as connection:
        streamed = await connection.stream(text("select name from things order by id"))
        parts = [len(part) async for part in streamed.partitions(100)]
    assert parts == [100, 100, 50]
