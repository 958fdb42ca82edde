"""`python -m crm report` (alias `python -m sla report`): the monthly SLA report from the
command line. The `report` subcommand of crm/cli.py's parser runs this."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from crm.db import make_engine, make_sessionmaker, upgrade_database_async
from crm.errors import CrmError
from crm.reporting import monthly_report
from crm.schema_version import is_current
from crm.settings import CrmSettings
from sla import (
    MonthlyReport,
    parse_month,
    previous_month,
    report_to_csv,
    report_to_dict,
    report_to_text,
)
from sla.report import report_header_dict, service_dicts


def add_report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("--month", help="YYYY-MM (default: the previous month)")
    report.add_argument("--customer", type=int, help="only this customer's services and tickets")
    report.add_argument("--format", choices=("text", "json", "csv", "xlsx"), default="text")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")


async def render(
    args: argparse.Namespace, settings: CrmSettings, now: datetime
) -> bytes | Iterator[bytes]:
    config = settings.sla_config()
    month = args.month or previous_month(now, config.zone)
    parse_month(month)  # a clear error before the database is touched
    engine = make_engine(settings.database_url, reads_only=True)
    try:
        if not await is_current(engine):
            # Alembic (and its start-up cost) only when there is something to migrate.
            await upgrade_database_async(settings.database_url)
        async with make_sessionmaker(engine)() as session:
            report, evidence = await monthly_report(
                session, month, config, now, args.customer, with_tickets=args.format == "xlsx"
            )
            customers: dict[int, str] = {}
            if args.format == "xlsx":
                from crm.exports import ticket_customers

                customers = await ticket_customers(session, month, config)
    finally:
        await engine.dispose()
    if args.format == "json":
        return report_json(report)
    if args.format == "csv":
        return report_to_csv(report).encode()
    if args.format == "xlsx":
        # openpyxl is loaded only when asked for: the start-up counts in every report run.
        from crm.exports import WorkbookInput, report_workbook

        extra = WorkbookInput(evidence.tickets, evidence.incidents, customers)
        return report_workbook(report_to_dict(report), config, extra)
    return (report_to_text(report) + "\n").encode()


def report_json(report: MonthlyReport) -> Iterator[bytes]:
    """The same bytes as `json.dumps(report_to_dict(report), ensure_ascii=False, indent=2)
    + "\\n"` (UTF-8), in pieces: one service at a time, so a month of 100k services is never
    held as one dict and one string. Written by orjson: the stdlib's indenting encoder is
    pure Python and took seconds. The two differ only on floats below 0.0001 (exponent
    form); the report has none: minutes are rounded to 2 places, shares to 4."""
    import orjson

    header = orjson.dumps(report_header_dict(report), option=orjson.OPT_INDENT_2)
    before, after = header.split(b'\n  "services": [],\n', 1)
    yield before + b'\n  "services": ['
    separator = b"\n    "
    for service in service_dicts(report):
        # Nested one level deeper than on its own: every line moves right by 4 spaces
        # (orjson escapes newlines inside strings, so each b"\n" is a line break).
        yield separator + orjson.dumps(service, option=orjson.OPT_INDENT_2).replace(
            b"\n", b"\n    "
        )
        separator = b",\n    "
    yield (b"\n  ]" if report.services else b"]") + b",\n" + after + b"\n"


def run_report(args: argparse.Namespace, settings: CrmSettings) -> int:
    """The report to stdout or --output; errors in one line on stderr, exit status 2."""
    if args.format == "xlsx" and args.output is None:
        print("error: --format xlsx needs --output FILE.xlsx", file=sys.stderr)
        return 2
    try:
        content = asyncio.run(render(args, settings, datetime.now(UTC)))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CrmError as error:
        if error.code == "unknown_customer":
            print(f"error: no customer with id {error.params['customer_id']}", file=sys.stderr)
        else:
            print(f"error: {error.code}", file=sys.stderr)
        return 2
    parts = [content] if isinstance(content, bytes) else content
    if args.output is not None:
        with args.output.open("wb") as output:
            output.writelines(parts)
    else:
        sys.stdout.buffer.writelines(parts)
    return 0
