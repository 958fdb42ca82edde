"""`python -m crm verify` and `python -m crm backup`: the evidence chain from the command
line. crm/cli.py's parser hands these two subcommands over here."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from crm.db import make_engine, make_sessionmaker, upgrade_database_async
from crm.settings import CrmSettings
from crm.verify import ChainBreak, Verified, verify_chain


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument(
        "--from",
        dest="since",
        metavar="DATE",
        help="YYYY-MM-DD (local): start at the first entry chained on or after it",
    )
    verify.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def add_backup_arguments(backup: argparse.ArgumentParser) -> None:
    backup.add_argument("file", type=Path, help="the copy to write (SQLite)")
    backup.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


async def verify(settings: CrmSettings, since: datetime | None) -> Verified | ChainBreak:
    await upgrade_database_async(settings.database_url)
    # A read-only transaction: one consistent snapshot while the bot goes on writing.
    engine = make_engine(settings.database_url, reads_only=True)
    try:
        async with make_sessionmaker(engine)() as session:
            return await verify_chain(session, since)
    finally:
        await engine.dispose()


def run_verify(args: argparse.Namespace, settings: CrmSettings) -> int:
    """Exit 0 with the count and head; 1 naming the first row that does not match."""
    since = None
    if args.since:
        try:
            since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=settings.zone)
        except ValueError:
            return _fail(args, f"not a date: {args.since!r} (write YYYY-MM-DD)", 2)
    result = asyncio.run(verify(settings, since))
    if isinstance(result, ChainBreak):
        details = {
            "problem": result.problem,
            "table": result.table,
            "row_id": result.row_id,
            "seq": result.seq,
            "detail": result.detail,
        }
        return _fail(args, f"evidence chain broken at {result.describe()}", 1, details)
    if args.json:
        print(json.dumps({"verified": True, "rows": result.rows, "head": result.head}))
    else:
        print(f"verified {result.rows} evidence rows; head {result.head}")
    return 0


def run_backup(args: argparse.Namespace, settings: CrmSettings) -> int:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return _fail(
            args,
            "backup copies SQLite databases only; for PostgreSQL use "
            "pg_dump --format=custom --file=FILE DBNAME (restore with pg_restore, "
            "then run python -m crm verify against the copy)",
            2,
        )
    source = url.database
    if not source or source == ":memory:" or not Path(source).exists():
        return _fail(args, f"no SQLite database file at {source!r}", 2)
    try:
        seq, head = sqlite_backup(Path(source), args.file)
    except (OSError, sqlite3.Error) as error:
        return _fail(args, f"backup failed: {error}", 1)
    if args.json:
        print(json.dumps({"backup": str(args.file), "entries": seq, "head": head}))
    else:
        print(f"backup written to {args.file}: {seq} evidence entries, head {head}")
    return 0


def sqlite_backup(source: Path, target: Path) -> tuple[int, str]:
    """SQLite's online backup: one consistent snapshot, taken while the bot keeps writing
    (in WAL mode a reader blocks no writer). Written beside the target, then renamed, so a
    failed run never leaves a half copy under the final name."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    origin = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        # All pages in one step: a copy made in several steps starts over whenever the bot
        # commits in between, and one step still blocks no writer in WAL mode.
        origin.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        seq, head = copy.execute("SELECT seq, chain_hash FROM evidence_chain_head").fetchone()
    finally:
        copy.close()
        origin.close()
    os.replace(partial, target)
    return int(seq), str(head)


def _fail(
    args: argparse.Namespace, message: str, status: int, details: dict[str, Any] | None = None
) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": message, **(details or {})}, ensure_ascii=False))
    print(f"error: {message}", file=sys.stderr)
    return status
