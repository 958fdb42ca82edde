"""`python -m sla report`: the monthly SLA report from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from crm.db import make_engine, make_sessionmaker, upgrade_database_async
from crm.errors import CrmError
from crm.reporting import monthly_report
from crm.settings import CrmSettings, describe_validation_error
from sla import parse_month, report_to_csv, report_to_dict, report_to_text


def previous_month(now: datetime, zone: ZoneInfo) -> str:
    first_of_this_month = now.astimezone(zone).replace(day=1)
    return (first_of_this_month - timedelta(days=1)).strftime("%Y-%m")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sla", description="SLA reports")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="the monthly SLA report")
    report.add_argument("--month", help="YYYY-MM (default: the previous month)")
    report.add_argument("--customer", type=int, help="only this customer's services and tickets")
    report.add_argument("--format", choices=("text", "json", "csv", "xlsx"), default="text")
    report.add_argument("--output", type=Path, help="write to this file instead of stdout")
    return parser


async def render(args: argparse.Namespace, settings: CrmSettings, now: datetime) -> bytes:
    config = settings.sla_config()
    month = args.month or previous_month(now, config.zone)
    parse_month(month)  # a clear error before the database is touched
    await upgrade_database_async(settings.database_url)
    engine = make_engine(settings.database_url, reads_only=True)
    try:
        async with make_sessionmaker(engine)() as session:
            report, _ = await monthly_report(session, month, config, now, args.customer)
    finally:
        await engine.dispose()
    if args.format == "json":
        return (json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n").encode()
    if args.format == "csv":
        return report_to_csv(report).encode()
    if args.format == "xlsx":
        # openpyxl is loaded only when asked for: the start-up counts in every report run.
        from crm.exports import report_workbook

        return report_workbook(report_to_dict(report))
    return (report_to_text(report) + "\n").encode()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = CrmSettings()
    except ValidationError as error:
        print(describe_validation_error(error), file=sys.stderr)
        return 2
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
    if args.output is not None:
        args.output.write_bytes(content)
    else:
        sys.stdout.buffer.write(content)
    return 0
