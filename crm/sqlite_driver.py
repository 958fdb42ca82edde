"""SQLite statements in one trip each to aiosqlite's thread.

aiosqlite runs its sqlite3 connection in a thread of its own, and SQLAlchemy's adapter
makes a trip there for each DB-API call: the cursor, the statement, its rows, the cursor's
close; three or four per statement. Each trip is a queue put, a wake-up through the event
loop's self-pipe and a GIL hand-off (bench/README.md, the GIL switch interval), and a
ticket's opening makes some forty of them. Here the whole statement (cursor, execute,
rows, close) is one function run in that thread: one trip.

The rows come back whole, as SQLAlchemy's own adapter fetches them for every statement
that has any; streamed results (server-side cursors) keep the adapter's own cursor.

`one_trip_per_statement` is applied to each new connection of an engine (crm/db.py). It
uses two private names of aiosqlite, `Connection._execute` and `Connection._conn`: if a
release renames them, connections keep SQLAlchemy's own cursor, slower but correct (and
tests/crm/test_sqlite_driver.py fails, saying so).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, Any, list[Any]]


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """In aiosqlite's thread: the statement and everything SQLAlchemy then asks of it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, with no aiosqlite cursor behind it: what a statement
    left (description, rowcount, lastrowid, rows) is kept here."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # The adapter's own __init__ would open an aiosqlite cursor: a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed in the statement's own trip."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            await_(self._run(operation, parameters, many=many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            outcome: _Outcome = await connection._execute(
                _run_statement, connection._conn, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


def supported(dbapi_connection: Any) -> bool:
    """Whether this aiosqlite still has the two private names the cursor needs."""
    inner = getattr(dbapi_connection, "_connection", None)
    return hasattr(inner, "_execute") and hasattr(type(inner), "_conn")


def one_trip_per_statement(dbapi_connection: Any) -> None:
    """SQLAlchemy's adapted aiosqlite connection, made to run each statement in one trip
    (same slots, one class attribute more: its cursor class)."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection and supported(dbapi_connection):
        dbapi_connection.__class__ = OneTripConnection
