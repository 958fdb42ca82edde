"""Engine, sessions, timezone-safe columns and migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
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


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, reads_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """`reads_only` engines (reports) begin deferred transactions that never block writers."""
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
            cursor.execute("PRAGMA busy_timeout=30000")
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
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


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
