"""`python -m crm report` (alias `python -m sla report`): the monthly SLA report from the
command line. The `report` subcommand of crm/cli.py's parser runs this."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from crm.db import (
    SnapshotNotShared,
    make_engine,
    make_sessionmaker,
    read_together,
    upgrade_database_async,
)
from crm.errors import CrmError
from crm.reporting import (
    StreamedHead,
    monthly_report,
    stream_monthly_report,
    tally_month_tickets,
)
from crm.schema_version import is_current
from crm.settings import CrmSettings
from sla import (
    MonthlyReport,
    SlaConfig,
    parse_month,
    previous_month,
    report_to_dict,
)
from sla.report import (
    ServiceReport,
    csv_closing,
    csv_opening,
    csv_services,
    report_header_dict,
    service_dicts,
    service_json_dict,
    service_summary_dict,
    service_text,
    text_closing,
    text_opening,
)
from sla.ticket_stats import TicketTally


def add_report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("--month", help="YYYY-MM (default: the previous month)")
    report.add_argument("--customer", type=int, help="only this customer's services and tickets")
    report.add_argument("--format", choices=("text", "json", "csv", "xlsx"), default="text")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")


async def render(
    args: argparse.Namespace, settings: CrmSettings, now: datetime, write: Callable[[bytes], Any]
) -> None:
    """The report in the asked format, handed to `write` in pieces (text, CSV and JSON:
    as the services are read)."""
    config = settings.sla_config()
    month = args.month or previous_month(now, config.zone)
    parse_month(month)  # a clear error before the database is touched
    engine = make_engine(settings.database_url, reads_only=True)
    try:
        if not await is_current(engine):
            # Alembic (and its start-up cost) only when there is something to migrate.
            await upgrade_database_async(settings.database_url)
        if args.format != "xlsx":
            async with tickets_counted_aside(engine, month, config, now, args.customer) as (
                session,
                tickets,
            ):
                # Written while it is read: the services are never all held at once.
                head, services = await stream_monthly_report(
                    session, month, config, now, args.customer, tickets=tickets
                )
                async with aclosing(services):
                    async for part in STREAMED[args.format](head, services):
                        write(part)
            return
        # openpyxl is loaded only when asked for: the start-up counts in every report run.
        from crm.exports import WorkbookInput, report_workbook, ticket_customers

        # The workbook lists the tickets themselves: read as records, not counted.
        async with make_sessionmaker(engine)() as session:
            report, evidence = await monthly_report(
                session, month, config, now, args.customer, with_tickets=True
            )
            customers = await ticket_customers(session, month, config)
    finally:
        await engine.dispose()
    extra = WorkbookInput(evidence.tickets, evidence.incidents, customers)
    write(report_workbook(report_to_dict(report), config, extra))


@asynccontextmanager
async def tickets_counted_aside(
    engine: AsyncEngine, month: str, config: SlaConfig, now: datetime, customer_id: int | None
) -> AsyncIterator[tuple[AsyncSession, asyncio.Future[TicketTally]]]:
    """A session to read the month's services and incidents, and its tickets being
    counted meanwhile on a second connection: on SQLite each connection has a thread of
    its own, so the count (a million tickets in SQLite's C code, which lets go of the
    GIL) and the services' Python run on two cores; on PostgreSQL the count runs in the
    server. Both read one snapshot (`read_together`): the same figures as one
    transaction reads. Where no snapshot can be shared (a writer holding SQLite's lock
    for seconds, a read-only file), the tickets are counted first in the one session."""
    sessions = make_sessionmaker(engine)
    async with AsyncExitStack() as stack:
        try:
            services_connection, tickets_connection = await stack.enter_async_context(
                read_together(engine, 2)
            )
        except SnapshotNotShared:
            session = await stack.enter_async_context(sessions())
            counted = asyncio.get_running_loop().create_future()
            counted.set_result(await tally_month_tickets(session, month, config, now, customer_id))
            yield session, counted
            return
        session = await stack.enter_async_context(sessions(bind=services_connection))
        counting = await stack.enter_async_context(sessions(bind=tickets_connection))
        tickets = asyncio.create_task(
            tally_month_tickets(counting, month, config, now, customer_id)
        )
        try:
            yield session, tickets
        finally:
            await _stopped(tickets, tickets_connection)


async def _stopped(task: asyncio.Task[Any], connection: AsyncConnection) -> None:
    """`task`, counting on `connection`, stopped if it still runs (the report failed
    before it needed the count) and waited for, so that the connection is idle before it
    is closed. Its own failure is left to whoever awaited it; a cancellation of ours while
    we wait goes on up."""
    if not task.done() and connection.dialect.name == "sqlite":
        # Cancelling the task would leave SQLite's thread running the statement to its
        # end (and the connection's close queued behind it). An interrupt stops it, but
        # is lost if it comes before the statement has begun: repeated until it ends.
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        while not task.done():
            await driver.interrupt()
            await asyncio.wait({task}, timeout=_INTERRUPT_EVERY)
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: asyncio would log it as never retrieved


_INTERRUPT_EVERY = 0.05  # seconds


def report_json(report: MonthlyReport) -> Iterator[bytes]:
    """The same bytes as `json.dumps(report_to_dict(report), ensure_ascii=False, indent=2)
    + "\\n"` (UTF-8), in pieces: one service at a time, so a month of 100k services is never
    held as one dict and one string. Written by orjson: the stdlib's indenting encoder is
    pure Python and took seconds. The two differ only on floats below 0.0001 (exponent
    form); the report has none: minutes are rounded to 2 places, shares to 4."""
    writer = _JsonWriter(report_header_dict(report))
    for service in service_dicts(report):
        yield writer.services([service])
    yield writer.end()


async def streamed_json(
    head: StreamedHead, services: AsyncIterator[ServiceReport]
) -> AsyncIterator[bytes]:
    """`report_json` of the report `stream_monthly_report` reads, the same bytes, written
    as the service reports are read (a few thousand services at a time); what follows
    the services (the restorations among it) once they are all read."""
    writer = _JsonWriter(report_header_dict(head.opening))
    batch: list[dict[str, Any]] = []
    async for service in services:
        batch.append(service_json_dict(service))
        if len(batch) >= 256:
            yield writer.services(batch)
            batch.clear()
    yield writer.services(batch) + writer.end(report_header_dict(await head.complete()))


async def streamed_text(
    head: StreamedHead, services: AsyncIterator[ServiceReport]
) -> AsyncIterator[bytes]:
    """`report_to_text` of the report `stream_monthly_report` reads, and its last newline:
    the same bytes, written as the services are read."""
    opening = head.opening
    before = text_opening(report_header_dict(opening), opening.report, head.listed)
    yield _lines(before)
    lines: list[str] = []
    async for service in services:
        lines.extend(service_text(service_summary_dict(service)))
        if len(lines) >= 1024:
            yield _lines(lines)
            lines.clear()
    complete = await head.complete()
    header = report_header_dict(complete)
    if text_opening(header, complete.report, head.listed) != before:
        raise ValueError("the report's head changed while its services were written")
    yield _lines(lines + text_closing(header, complete.report))


def _lines(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


async def streamed_csv(
    head: StreamedHead, services: AsyncIterator[ServiceReport]
) -> AsyncIterator[bytes]:
    """`report_to_csv` of the report `stream_monthly_report` reads, the same bytes,
    written as the services are read (no column depends on the tickets)."""
    header = report_header_dict(head.opening)
    yield csv_opening().encode()
    batch: list[dict[str, Any]] = []
    async for service in services:
        batch.append(service_summary_dict(service))
        if len(batch) >= 256:
            yield csv_services(header, batch).encode()
            batch.clear()
    await head.complete()
    yield (csv_services(header, batch) + csv_closing(header)).encode()


STREAMED: dict[str, Callable[[StreamedHead, AsyncIterator[ServiceReport]], AsyncIterator[bytes]]]
STREAMED = {"json": streamed_json, "text": streamed_text, "csv": streamed_csv}


class _JsonWriter:
    """The pieces of `report_json`: the header up to the services, each service, the rest."""

    def __init__(self, header: dict[str, Any]) -> None:
        import orjson

        self._dumps = orjson.dumps
        self._indent = orjson.OPT_INDENT_2
        self._utc_z = orjson.OPT_UTC_Z
        self._before, self._after = self._split(header)
        self._separator = self._before + b'\n  "services": [\n    '
        self._listed = False

    def _split(self, header: dict[str, Any]) -> list[bytes]:
        return self._dumps(header, option=self._indent).split(b'\n  "services": [],\n', 1)

    # A list of services dumped as the one value of a one-key object is indented as the
    # report's own "services" list is (items 4 spaces in, ",\n    " between them): one
    # orjson call per batch, and no re-indenting of every line afterwards.
    _BATCH_OPENING = b'{\n  "s": [\n    '
    _BATCH_CLOSING = b"\n  ]\n}"

    def services(self, services: list[dict[str, Any]]) -> bytes:
        """The next services of the list, in order. Instants left as datetimes are written
        in UTC with a "Z" (`service_json_dict`)."""
        if not services:
            return b""
        dumped = self._dumps({"s": services}, option=self._indent | self._utc_z)
        if not (dumped.startswith(self._BATCH_OPENING) and dumped.endswith(self._BATCH_CLOSING)):
            raise RuntimeError("orjson indented a list of services unlike the report's")
        part = self._separator + dumped[len(self._BATCH_OPENING) : -len(self._BATCH_CLOSING)]
        self._separator, self._listed = b",\n    ", True
        return part

    def end(self, header: dict[str, Any] | None = None) -> bytes:
        """The rest; of `header` when given: the same header completed after the services
        (what precedes them must not have changed)."""
        if header is not None:
            before, self._after = self._split(header)
            if before != self._before:
                raise ValueError("the report's head changed while its services were written")
        if not self._listed:  # the header alone: "services": []
            return self._separator[: -len(b"\n    ")] + b"],\n" + self._after + b"\n"
        return b"\n  ],\n" + self._after + b"\n"


def run_report(args: argparse.Namespace, settings: CrmSettings) -> int:
    """The report to stdout or --output; errors in one line on stderr, exit status 2 (1
    when the report could not be written), and no part of a report left in the file."""
    if args.format == "xlsx" and args.output is None:
        print("error: --format xlsx needs --output FILE.xlsx", file=sys.stderr)
        return 2
    output = _Output(args.output)
    try:
        with _few_collections():
            asyncio.run(render(args, settings, datetime.now(UTC), output.write))
        output.close()
    except (ValueError, CrmError, OutputFailed) as error:
        output.discard()
        print(f"error: {_explained(error)}", file=sys.stderr)
        return 1 if isinstance(error, OutputFailed) else 2
    except BaseException:
        output.discard()
        raise
    return 0


def _explained(error: Exception) -> str:
    if isinstance(error, CrmError):
        if error.code == "unknown_customer":
            return f"no customer with id {error.params['customer_id']}"
        return error.code
    return str(error)


@contextmanager
def _few_collections() -> Iterator[None]:
    """The cyclic garbage collector run ~100 times less often while the report is made: a
    month's report allocates millions of short-lived objects that reference counting
    frees (next to no cycles), and the default thresholds ran ~2,500 collections, ~1 s
    of a 1M-ticket month. Collections still run; the thresholds are put back after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


class OutputFailed(Exception):
    """The report could not be written where it was to go (a full disk, a file too large)."""


class _Output:
    """stdout, or the --output file opened at the first byte: a report refused before it
    begins (a bad month, an unknown customer) leaves no file behind, and one cut short
    leaves none either (`discard`): half a report would read as a whole one."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        try:
            if self._file is None:
                self._file = sys.stdout.buffer if self._path is None else self._path.open("wb")
            self._file.write(data)
        except OSError as error:
            raise self._failed(error) from error

    def close(self) -> None:
        try:
            if self._file is not None and self._path is not None:
                self._file.close()
            elif self._file is not None:
                self._file.flush()
        except OSError as error:
            raise self._failed(error) from error

    def discard(self) -> None:
        """The file closed and, if it is a file of its own (not a device or a pipe),
        removed."""
        if self._file is None or self._path is None:
            return
        with suppress(OSError):
            self._file.close()
        if self._path.is_file():
            self._path.unlink(missing_ok=True)

    def _failed(self, error: OSError) -> OutputFailed:
        where = "stdout" if self._path is None else str(self._path)
        return OutputFailed(f"cannot write {where}: {error.strerror or error}")
