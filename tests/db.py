"""The database under test: a SQLite file, or a fresh PostgreSQL database when
TEST_POSTGRES_URL names a server (CI runs the whole suite both ways).

`rows()` reads with a plain synchronous driver and normalises values to what SQLite
returns (UTC text times, 0/1 booleans, JSON text), so assertions read the same on both.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

POSTGRES_ENV = "TEST_POSTGRES_URL"


def postgres_server() -> str | None:
    """e.g. postgresql+asyncpg://postgres@127.0.0.1:5433/postgres"""
    return os.environ.get(POSTGRES_ENV) or None


def _psycopg_dsn(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(tmp_path: Path) -> str:
    server = postgres_server()
    if server is None:
        return f"sqlite+aiosqlite:///{tmp_path}/support.db"
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_psycopg_dsn(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    server = postgres_server()
    if server is None or not url.startswith("postgresql"):
        return
    import psycopg

    name = make_url(url).database
    with psycopg.connect(_psycopg_dsn(server), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _normalise(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def rows(database_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(path) as connection:
            return connection.execute(query, params).fetchall()
    import psycopg

    with psycopg.connect(_psycopg_dsn(database_url)) as connection:
        result = connection.execute(query.replace("?", "%s"), params).fetchall()
    return [tuple(_normalise(value) for value in row) for row in result]


def execute(database_url: str, *statements: str) -> None:
    """Plain SQL in one committed transaction, past the application (and its chain)."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(path) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    import psycopg

    with psycopg.connect(_psycopg_dsn(database_url)) as connection:
        for statement in statements:
            connection.execute(statement)
