"""Monthly SLA report at 10k, 100k (and 1M) tickets: wall time and peak memory.

Why: managers run ``python -m sla report`` (and the bot queues it on the 1st) against the
whole month; the goal (issue 15) is under 3 s and under 300 MiB at a million tickets, with
growth at most linear from 100k. The command
is timed as a subprocess, exactly as an operator runs it; its start-up cost (interpreter,
imports, migrations check) is measured in the same run on an empty database and shown, so
growth with the data can be told apart from the fixed cost.

    python -m bench.report              # 10k and 100k tickets
    python -m bench.report --full       # and 1M (services and incidents are 1/10 of tickets)
    python -m bench.report --sizes 100000 1000000 --data-dir DIR --baseline REV
        # databases generated once into DIR and reused; REV's report timed in the same run
        # on the same databases, and both JSON outputs compared byte for byte
    python -m bench.report --sizes 100000 --postgres postgresql+asyncpg://postgres@HOST:PORT/postgres
        # and the same month generated into a fresh database on that PostgreSQL server, the
        # same command timed on it, printed beside SQLite's; both JSON outputs must match
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    PROJECT_ROOT,
    add_worktree,
    find_py_spy,
    machine_summary,
    median,
    remove_worktree,
    summarize_collapsed,
    table,
    verdict,
)
from bench.generate import ZONE, Sizes, create_database, database_url
from sla import previous_month

GOAL_SECONDS = 3.0
GOAL_RSS_KIB = 300 * 1024  # 300 MiB
QUICK_SIZES = (10_000, 100_000)
FULL_SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int
    returncode: int
    stderr: str
    # User + system CPU of the child: moves less than wall time with other load.
    cpu_seconds: float = 0.0


def report_command(month: str, output: str = "/dev/null") -> list[str]:
    return [
        sys.executable, "-m", "sla", "report", "--month", month, "--format", "json",
        "--output", output,
    ]  # fmt: skip


def report_env(database: Path | str, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """`root` is the checkout whose code runs (PYTHONPATH wins over the editable install);
    `database` a SQLite file or a database URL."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(database),
            "TIMEZONE": "Asia/Almaty",
            "PYTHONPATH": str(root),
        }
    )
    return env


def run_measured(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Run:
    """Wall time and peak RSS of one child. ``os.wait4`` gives that child's own rusage;
    ``getrusage(RUSAGE_CHILDREN)`` would be the maximum over every child reaped so far."""
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(elapsed, usage.ru_maxrss, process.returncode, stderr, cpu)


def measure(
    database: Path | str,
    month: str,
    cwd: Path,
    repeat: int,
    timeout: float,
    root: Path = PROJECT_ROOT,
    output: str = "/dev/null",
) -> tuple[float, int, str | None, float]:
    """Median time, the largest peak RSS and the median CPU time over ``repeat`` runs;
    an error text if one failed or timed out."""
    runs = []
    for _ in range(repeat):
        env = report_env(database, root)
        run = run_measured(report_command(month, output), env, cwd, timeout)
        if run.returncode != 0:
            reason = (
                f"timed out after {timeout:.0f} s"
                if run.seconds >= timeout
                else f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
            )
            return run.seconds, run.max_rss_kib, reason, run.cpu_seconds
        runs.append(run)
    cpu = median([r.cpu_seconds for r in runs])
    return median([r.seconds for r in runs]), max(r.max_rss_kib for r in runs), None, cpu


def profile(database: Path, month: str, cwd: Path, py_spy: str | None, top: int) -> str:
    """One more run under a profiler (not timed): py-spy if there is one, else cProfile."""
    env = report_env(database)
    if py_spy is not None:
        output = cwd / f"report-{database.stem}.pyspy.txt"
        done = subprocess.run(
            [py_spy, "record", "--format", "raw", "--rate", "200", "--output", str(output),
             "--", *report_command(month)],
            env=env, cwd=cwd, capture_output=True, text=True,
        )  # fmt: skip
        # py-spy may exit non-zero after writing a good profile ("No child process").
        if not output.exists():
            return f"py-spy failed: {done.stderr.strip()[-500:]}"
        return "py-spy:\n" + summarize_collapsed(output, top)
    output = cwd / f"report-{database.stem}.prof"
    command = report_command(month)
    command[1:3] = ["-m", "cProfile", "-o", str(output), "-m", "sla"]
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            lines.append(text)

    stats = pstats.Stats(str(output), stream=Sink())  # type: ignore[arg-type]
    stats.sort_stats("tottime").print_stats(top)
    return "cProfile (by own time):\n" + "".join(lines).strip()


def human(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = args.sizes or (FULL_SIZES if args.full else QUICK_SIZES)
    now = datetime.now(UTC)
    month = args.month or previous_month(now, ZONE)
    if args.data_dir:
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-report-", dir=args.tmp_dir))
    baseline = add_worktree(args.baseline, "bench-report-base-") if args.baseline else None
    try:
        return run(args, sizes, month, data_dir, baseline)
    finally:
        if baseline is not None:
            remove_worktree(baseline)
        if args.keep or args.data_dir:
            print(f"\nkept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@dataclass(frozen=True)
class Result:
    sizes: Sizes
    seconds: float
    rss: int
    error: str | None
    base_seconds: float | None = None
    base_rss: int | None = None
    same_output: bool | None = None
    cpu: float | None = None
    base_cpu: float | None = None
    # --postgres: the same month on PostgreSQL, and whether its JSON is SQLite's.
    pg_seconds: float | None = None
    pg_rss: int | None = None
    pg_error: str | None = None
    pg_same: bool | None = None


def prepare(database: Path, month: str, scaled: Sizes, args: argparse.Namespace) -> datetime | None:
    """The month in `database`, generated unless --data-dir holds it; returns the moment it
    was generated as of (evidence after it is left out), None when not recorded."""
    stamp = database.with_name(database.name + ".generated-at")
    if args.data_dir and database.exists():
        print(f"reusing {database.name} ({scaled.tickets:,} tickets)", flush=True)
        return datetime.fromisoformat(stamp.read_text().strip()) if stamp.exists() else None
    print(
        f"generating {scaled.tickets:,} tickets, {scaled.services:,} services, "
        f"{scaled.incidents:,} incidents ...",
        flush=True,
    )
    started = time.perf_counter()
    now = datetime.now(UTC)
    stamp.unlink(missing_ok=True)
    generate(database, month, scaled, now, args.seed)
    stamp.write_text(now.isoformat() + "\n")
    size_mib = database.stat().st_size / 1024 / 1024
    print(f"  generated in {time.perf_counter() - started:.1f} s ({size_mib:,.0f} MiB)")
    return now


def generate(target: Path | str, month: str, scaled: Sizes, now: datetime, seed: int) -> None:
    """`python -m bench.generate` in a child process: generated here, the month's rows
    would stay in this process's memory, and a report child forked from it would start
    with that memory counted in its own peak RSS."""
    subprocess.run(
        [sys.executable, "-m", "bench.generate", "--db", str(target), "--month", month,
         "--tickets", str(scaled.tickets), "--services", str(scaled.services),
         "--incidents", str(scaled.incidents), "--seed", str(seed), "--now", now.isoformat()],
        cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def _server_dsn(url: str) -> str:
    """A PostgreSQL URL as psycopg takes it."""
    from sqlalchemy import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def postgres_database(server: str, label: str, keep: bool) -> Iterator[str]:
    """A fresh database on `server` (a URL of any database there), dropped afterwards
    unless `keep`; yields its URL."""
    import psycopg
    from sqlalchemy import make_url

    name = f"bench_report_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_server_dsn(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"  kept PostgreSQL database {name}")
        else:
            with psycopg.connect(_server_dsn(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_postgres(
    args: argparse.Namespace,
    month: str,
    scaled: Sizes,
    generated_at: datetime | None,
    data_dir: Path,
    sqlite_output: Path,
    baseline: Path | None = None,
) -> tuple[float, int, str | None, bool | None]:
    """The same month generated into a fresh PostgreSQL database (as of the moment the
    SQLite month was, so that the rows are the same), the same report command timed on
    it, and its JSON compared with SQLite's (None: not comparable)."""
    with postgres_database(args.postgres, f"{scaled.tickets}_seed{args.seed}", args.keep) as url:
        print(f"  PostgreSQL: generating {scaled.tickets:,} tickets ...", flush=True)
        started = time.perf_counter()
        generate(url, month, scaled, generated_at or datetime.now(UTC), args.seed)
        print(f"    generated in {time.perf_counter() - started:.1f} s")
        output = data_dir / f"report-{scaled.tickets}-postgres.json"
        seconds, rss, error, cpu = measure(
            url, month, data_dir, args.repeat, args.timeout, output=str(output)
        )
        if baseline is not None:
            # The baseline on the same PostgreSQL database, in the same run.
            base_output = data_dir / f"report-{scaled.tickets}-postgres-baseline.json"
            base = measure(
                url, month, data_dir, args.repeat, args.timeout, baseline, str(base_output)
            )
            base_same = (
                error is None and base[2] is None and filecmp.cmp(output, base_output, False)
            )
            base_output.unlink(missing_ok=True)
            print(
                f"    baseline {args.baseline} on PostgreSQL: {base[0]:.2f} s "
                f"(CPU {base[3]:.2f} s), peak {human(base[1])} ({base[2] or 'ok'}); "
                f"JSON byte-identical: {'yes' if base_same else 'NO'}"
            )
    same = None
    if error is None and generated_at is not None and sqlite_output.exists():
        same = filecmp.cmp(output, sqlite_output, False)
    output.unlink(missing_ok=True)
    compared = (
        "not compared (the SQLite month's generation time is not recorded)"
        if generated_at is None
        else f"JSON byte-identical to SQLite's: {'yes' if same else 'NO'}"
    )
    outcome = f"{seconds:.2f} s (CPU {cpu:.2f} s), peak {human(rss)} ({error or 'ok'})"
    print(f"    report on PostgreSQL: {outcome}; {compared}")
    return seconds, rss, error, same


def measure_size(
    args: argparse.Namespace, month: str, data_dir: Path, tickets: int, baseline: Path | None
) -> Result:
    scaled = Sizes.for_tickets(tickets)
    database = data_dir / f"month-{month}-{tickets}-seed{args.seed}.db"
    generated_at = prepare(database, month, scaled, args)
    output = data_dir / f"report-{tickets}.json"
    seconds, rss, error, cpu = measure(
        database, month, data_dir, args.repeat, args.timeout, output=str(output)
    )
    print(
        f"  report: {seconds:.2f} s (CPU {cpu:.2f} s), peak {human(rss)} ({error or 'ok'})",
        flush=True,
    )
    result = Result(scaled, seconds, rss, error, cpu=cpu)
    if baseline is not None:
        base_output = data_dir / f"report-{tickets}-baseline.json"
        base_seconds, base_rss, base_error, base_cpu = measure(
            database, month, data_dir, args.repeat, args.timeout, baseline, str(base_output)
        )
        same = error is None and base_error is None and filecmp.cmp(output, base_output, False)
        print(
            f"  baseline {args.baseline}: {base_seconds:.2f} s (CPU {base_cpu:.2f} s), "
            f"peak {human(base_rss)} "
            f"({base_error or 'ok'}); JSON byte-identical: {'yes' if same else 'NO'}",
            flush=True,
        )
        result = Result(scaled, seconds, rss, error, base_seconds, base_rss, same, cpu, base_cpu)
        base_output.unlink(missing_ok=True)
    if args.postgres:
        pg = measure_postgres(args, month, scaled, generated_at, data_dir, output, baseline)
        result = replace(result, pg_seconds=pg[0], pg_rss=pg[1], pg_error=pg[2], pg_same=pg[3])
    output.unlink(missing_ok=True)
    if args.profile and error is None and tickets == max(args.sizes or QUICK_SIZES):
        print(f"\nprofile at {tickets:,} tickets (not timed):")
        print(profile(database, month, data_dir, find_py_spy(args.py_spy), args.top))
    if not (args.keep or args.data_dir):
        database.unlink()
    return result


def run(
    args: argparse.Namespace,
    sizes: Sequence[int],
    month: str,
    data_dir: Path,
    baseline: Path | None,
) -> int:
    print(machine_summary(data_dir))
    print(f"month {month}; sizes (tickets): {', '.join(f'{s:,}' for s in sizes)}")
    if args.postgres:
        from sqlalchemy import make_url

        server = make_url(args.postgres)
        print(f"also on PostgreSQL at {server.host}:{server.port} (a fresh database per size)")
    print("command: python -m sla report --month M --format json --output FILE\n")

    empty = data_dir / "empty.db"
    empty.unlink(missing_ok=True)
    create_database(empty).dispose()
    startup, startup_rss, error, startup_cpu = measure(
        empty, month, data_dir, args.repeat, args.timeout
    )
    if error:
        print(f"error on the empty database: {error}", file=sys.stderr)
        return 1
    print(
        f"start-up (empty database): {startup:.2f} s (CPU {startup_cpu:.2f} s), "
        f"{human(startup_rss)}"
    )
    if baseline is not None:
        base_startup, base_rss, _, base_startup_cpu = measure(
            empty, month, data_dir, args.repeat, args.timeout, baseline
        )
        print(
            f"start-up of {args.baseline}: {base_startup:.2f} s (CPU {base_startup_cpu:.2f} s), "
            f"{human(base_rss)}"
        )
    print()
    results = [measure_size(args, month, data_dir, tickets, baseline) for tickets in sizes]
    print_results(args, results, startup)
    same = all(r.same_output in (None, True) and r.pg_same in (None, True) for r in results)
    return 0 if same else 1


def print_results(args: argparse.Namespace, results: list[Result], startup: float) -> None:
    print("\nresults (median of", args.repeat, "run(s); peak RSS of the report process)")
    rows = []
    for r in results:
        ok = r.error is None and r.seconds < GOAL_SECONDS and r.rss < GOAL_RSS_KIB
        row = [
            f"{r.sizes.tickets:,}",
            f"{r.sizes.services:,}",
            f"{r.sizes.incidents:,}",
            f"{r.seconds:.2f}" + ("" if r.error is None else " (failed)"),
            "-" if r.cpu is None else f"{r.cpu:.2f}",
            f"{max(r.seconds - startup, 0):.2f}",
            human(r.rss),
            verdict(ok),
        ]
        if args.baseline:
            row += [
                f"{r.base_seconds:.2f}" if r.base_seconds is not None else "-",
                f"{r.base_cpu:.2f}" if r.base_cpu is not None else "-",
                human(r.base_rss) if r.base_rss is not None else "-",
                f"{r.base_seconds / r.seconds:.1f}x" if r.base_seconds else "-",
                "yes" if r.same_output else "NO",
            ]
        if args.postgres:
            row += [
                "-"
                if r.pg_seconds is None
                else f"{r.pg_seconds:.2f}" + ("" if r.pg_error is None else " (failed)"),
                human(r.pg_rss) if r.pg_rss is not None else "-",
                f"{r.pg_seconds / r.seconds:.2f}" if r.pg_seconds and not r.error else "-",
                "-" if r.pg_same is None else "yes" if r.pg_same else "NO",
            ]
        rows.append(row)
    headers = ["tickets", "services", "incidents", "time s", "CPU s", "minus start-up s"]
    headers.append("peak RSS")
    headers.append("goal")
    if args.baseline:
        headers += [f"{args.baseline} s", f"{args.baseline} CPU s", f"{args.baseline} RSS"]
        headers += ["speed-up", "same JSON"]
    if args.postgres:
        headers += ["PostgreSQL s", "PostgreSQL RSS", "PG / SQLite", "PG JSON = SQLite's"]
    print(table(headers, rows))
    print("\ngrowth (ratio between consecutive sizes)")
    growth = []
    for small, big in itertools.pairwise(results):
        net1, net2 = max(small.seconds - startup, 1e-3), max(big.seconds - startup, 1e-3)
        # A failed (timed out) larger run gives a lower bound; a failed smaller one, nothing.
        mark = "n/a" if small.error else ">= " if big.error else ""
        growth.append(
            [
                f"{big.sizes.tickets:,} / {small.sizes.tickets:,}",
                f"{big.sizes.tickets / small.sizes.tickets:.0f}x",
                mark if small.error else f"{mark}{big.seconds / small.seconds:.2f}",
                mark if small.error else f"{mark}{net2 / net1:.2f}",
                mark if small.error else f"{mark}{big.rss / small.rss:.2f}",
            ]
        )
    print(table(["sizes", "data", "time", "time minus start-up", "peak RSS"], growth))
    print(f"\ngoal: < {GOAL_SECONDS:.0f} s and < {GOAL_RSS_KIB // 1024} MiB at every size")
    for r in results:
        ok = r.error is None and r.seconds < GOAL_SECONDS and r.rss < GOAL_RSS_KIB
        detail = r.error or f"{r.seconds:.2f} s, {human(r.rss)}"
        print(f"  {r.sizes.tickets:>9,} tickets: {verdict(ok)} ({detail})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Time `python -m sla report` (wall time, peak RSS) on generated months "
        "of growing size; services and incidents are 1/10 of the tickets.",
    )
    parser.add_argument("--full", action="store_true", help="add 1,000,000 tickets")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="ticket counts to run (overrides --full)"
    )
    parser.add_argument("--month", help="YYYY-MM (default: the previous month)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; median (1)")
    parser.add_argument("--timeout", type=float, default=900, help="per report run, s (900)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tmp-dir", help="where the databases go (default: TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument(
        "--data-dir", help="keep the databases in this directory and reuse those already there "
        "(same month, size and seed): generate a 1M month once",
    )  # fmt: skip
    parser.add_argument(
        "--baseline", help="also time this git revision's report (a temporary worktree) on "
        "the same databases, and compare both JSON outputs byte for byte",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true", help="profile the largest size once more (py-spy or "
        "cProfile)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres", help="also generate each month into a fresh database on this PostgreSQL "
        "server (a URL of any database there, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/"
        "postgres), time the same report on it beside SQLite's and compare the JSON outputs; "
        "the database is dropped afterwards unless --keep",
    )  # fmt: skip
    parser.add_argument("--py-spy", help="path to py-spy (default: found on PATH)")
    parser.add_argument("--top", type=int, default=15, help="profile lines to print (15)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
