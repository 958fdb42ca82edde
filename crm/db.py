"""Engine, sessions, timezone-safe columns and migrations."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from alembic.config import Config


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware.

    SQLite has no time zone type, so a naive value read back would silently be
    mistaken for local time; refusing naive input and re-attaching UTC on the way
    out keeps every evidence time unambiguous on both SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: evidence times must be aware")
        as_utc = value.astimezone(UTC)
        return as_utc.replace(tzinfo=None) if dialect.name == "sqlite" else as_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# How long a SQLite connection waits for another's write lock before "database is locked".
BUSY_TIMEOUT_MS = 30_000


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, reads_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """`reads_only` engines (reports) begin transactions that never block writers and read
    one snapshot from their first statement to their last: SQLite's deferred BEGIN in WAL
    mode, PostgreSQL's REPEATABLE READ (its default, READ COMMITTED, would read each
    statement as of its own moment, and a report's parts would not agree)."""
    if url.startswith("sqlite"):
        from crm.sqlite_driver import one_trip_per_statement

        _prepare_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            one_trip_per_statement(dbapi_connection)
            # WAL lets the report read while the bot writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()
            # The driver's own implicit transactions break SAVEPOINTs; SQLAlchemy's documented
            # fix is to let it autocommit and emit BEGIN ourselves (below).
            dbapi_connection.isolation_level = None

        # A deferred transaction that reads and then writes fails at once when another
        # connection wrote meanwhile; taking the write lock at BEGIN makes it wait instead.
        begin = "BEGIN" if reads_only else "BEGIN IMMEDIATE"

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

        return engine
    if reads_only:
        kwargs.setdefault("isolation_level", "REPEATABLE READ")
        kwargs["execution_options"] = {
            "postgresql_readonly": True,
            **kwargs.get("execution_options", {}),
        }
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


# What `pg_export_snapshot()` returns, e.g. 00000003-0000001B-1: checked before it is
# written into SET TRANSACTION SNAPSHOT, which takes no bound parameter.
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]+")
# How long `read_together` waits for SQLite's write lock. The bot holds it for a slice of a
# batch (half a second at most); a writer that holds it longer is not waited for.
GATE_WAIT_MS = 2_000


class SnapshotNotShared(Exception):
    """`read_together` cannot make its connections read one moment (SQLite: a writer held
    the lock too long, or the database is opened read-only, where BEGIN IMMEDIATE holds
    no writer off). The caller reads on one connection instead."""


@asynccontextmanager
async def read_together(engine: AsyncEngine, count: int) -> AsyncIterator[list[AsyncConnection]]:
    """`count` connections of a `reads_only` engine, each in its own transaction, all
    reading the database as of one moment: parts of one report read in parallel (each
    on its own connection, SQLite's in a thread of its own) agree with each other as if
    one transaction had read them all.

    SQLite: each connection's snapshot begins at its first read; they are begun while a
    further connection holds the write lock (BEGIN IMMEDIATE), so no writer can commit
    between them. Writers wait the few milliseconds that takes, as they wait for each
    other. PostgreSQL: the first connection exports its snapshot and the others take it
    (SET TRANSACTION SNAPSHOT). Raises `SnapshotNotShared` before any connection has
    read when that cannot be done."""
    async with AsyncExitStack() as stack:
        if engine.dialect.name == "sqlite" and not _writable_sqlite(engine.url):
            raise SnapshotNotShared("the database is not opened for writing")
        connections = [await stack.enter_async_context(engine.connect()) for _ in range(count)]
        if engine.dialect.name == "sqlite":
            gate = await stack.enter_async_context(engine.connect())
            # The driver's own connection: SQLAlchemy's begin would emit a deferred BEGIN.
            writers_held = (await gate.get_raw_connection()).driver_connection
            assert writers_held is not None
            await writers_held.execute(f"PRAGMA busy_timeout={GATE_WAIT_MS}")
            try:
                await writers_held.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise SnapshotNotShared(f"the write lock was not free: {error}") from error
            finally:
                await writers_held.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                for connection in connections:
                    # A read of the file (`SELECT 1` is not one) begins the snapshot.
                    await connection.exec_driver_sql("SELECT count(*) FROM sqlite_master")
            finally:
                await writers_held.rollback()
        else:
            first, *others = connections
            snapshot = str(await first.scalar(text("SELECT pg_export_snapshot()")))
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise RuntimeError(f"unexpected snapshot id from PostgreSQL: {snapshot!r}")
            for connection in others:
                await connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        yield connections


def _writable_sqlite(url: URL) -> bool:
    """Whether connections to this SQLite database can take its write lock: not opened
    read-only or immutable, not a file we may not write, not a private in-memory one."""
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        return False
    if url.query.get("mode") == "ro" or url.query.get("immutable") == "1":
        return False
    if database.startswith("file:"):
        return "mode=ro" not in database and "immutable=1" not in database
    return not Path(database).exists() or os.access(database, os.W_OK)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Imported here: the models import this module, and every session must chain evidence.
    from crm.evidence import ChainedSession

    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=ChainedSession)


def alembic_config(url: str) -> Config:
    # Alembic is imported when a migration runs: a report on a current database needs none.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade_database(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


async def upgrade_database_async(url: str) -> None:
    # Alembic's env.py runs its own event loop, so it has to live in a worker thread.
    await asyncio.to_thread(upgrade_database, url)
