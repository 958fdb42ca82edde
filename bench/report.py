"""Monthly SLA report at 10k, 100k (and 1M) tickets: wall time and peak memory.

Why: managers run ``python -m sla report`` (and the bot queues it on the 1st) against the
whole month; the goal is under 5 s and under 1 GB even at a million tickets. The command
is timed as a subprocess, exactly as an operator runs it; its start-up cost (interpreter,
imports, migrations check) is measured in the same run on an empty database and shown, so
growth with the data can be told apart from the fixed cost.

    python -m bench.report              # 10k and 100k tickets
    python -m bench.report --full       # and 1M (services and incidents are 1/10 of tickets)
"""

from __future__ import annotations

import argparse
import itertools
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    PROJECT_ROOT,
    find_py_spy,
    machine_summary,
    median,
    summarize_collapsed,
    table,
    verdict,
)
from bench.generate import ZONE, Sizes, create_database, fill_month
from sla import previous_month

GOAL_SECONDS = 5.0
GOAL_RSS_KIB = 1024 * 1024  # 1 GiB
QUICK_SIZES = (10_000, 100_000)
FULL_SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int
    returncode: int
    stderr: str


def report_command(month: str, output: str = "/dev/null") -> list[str]:
    return [
        sys.executable, "-m", "sla", "report", "--month", month, "--format", "json",
        "--output", output,
    ]  # fmt: skip


def report_env(database: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "TIMEZONE": "Asia/Almaty",
            "PYTHONPATH": str(PROJECT_ROOT),
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
    return Run(elapsed, usage.ru_maxrss, process.returncode, stderr)


def measure(
    database: Path, month: str, cwd: Path, repeat: int, timeout: float
) -> tuple[float, int, str | None]:
    """Median time and the largest peak RSS over ``repeat`` runs; an error text if one
    failed or timed out."""
    runs = []
    for _ in range(repeat):
        run = run_measured(report_command(month), report_env(database), cwd, timeout)
        if run.returncode != 0:
            reason = (
                f"timed out after {timeout:.0f} s"
                if run.seconds >= timeout
                else f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
            )
            return run.seconds, run.max_rss_kib, reason
        runs.append(run)
    return median([r.seconds for r in runs]), max(r.max_rss_kib for r in runs), None


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
    data_dir = Path(tempfile.mkdtemp(prefix="bench-report-", dir=args.tmp_dir))
    try:
        return run(args, sizes, month, data_dir)
    finally:
        if args.keep:
            print(f"\nkept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, sizes: Sequence[int], month: str, data_dir: Path) -> int:
    print(machine_summary(data_dir))
    print(f"month {month}; sizes (tickets): {', '.join(f'{s:,}' for s in sizes)}")
    print("command: python -m sla report --month M --format json --output /dev/null\n")

    empty = data_dir / "empty.db"
    create_database(empty).dispose()
    startup, startup_rss, error = measure(empty, month, data_dir, args.repeat, args.timeout)
    if error:
        print(f"error on the empty database: {error}", file=sys.stderr)
        return 1
    print(f"start-up (empty database): {startup:.2f} s, {human(startup_rss)}\n")

    results: list[tuple[Sizes, float, int, str | None]] = []
    for tickets in sizes:
        scaled = Sizes.for_tickets(tickets)
        database = data_dir / f"month-{tickets}.db"
        print(
            f"generating {scaled.tickets:,} tickets, {scaled.services:,} services, "
            f"{scaled.incidents:,} incidents ...",
            flush=True,
        )
        started = time.perf_counter()
        fill_month(database, month, scaled, seed=args.seed)
        size_mib = database.stat().st_size / 1024 / 1024
        print(f"  generated in {time.perf_counter() - started:.1f} s ({size_mib:,.0f} MiB)")
        seconds, rss, error = measure(database, month, data_dir, args.repeat, args.timeout)
        status = error or "ok"
        print(f"  report: {seconds:.2f} s, peak {human(rss)} ({status})", flush=True)
        results.append((scaled, seconds, rss, error))
        if args.profile and error is None and tickets == max(sizes):
            print(f"\nprofile at {tickets:,} tickets (not timed):")
            print(profile(database, month, data_dir, find_py_spy(args.py_spy), args.top))
        if not args.keep:
            database.unlink()

    print("\nresults (median of", args.repeat, "run(s); peak RSS of the report process)")
    rows = []
    for scaled, seconds, rss, error in results:
        ok = error is None and seconds < GOAL_SECONDS and rss < GOAL_RSS_KIB
        rows.append(
            [
                f"{scaled.tickets:,}",
                f"{scaled.services:,}",
                f"{scaled.incidents:,}",
                f"{seconds:.2f}" + ("" if error is None else " (failed)"),
                f"{max(seconds - startup, 0):.2f}",
                human(rss),
                verdict(ok),
            ]
        )
    print(
        table(
            ["tickets", "services", "incidents", "time s", "minus start-up s", "peak RSS", "goal"],
            rows,
        )
    )
    print("\ngrowth (ratio between consecutive sizes)")
    growth = []
    for (small, t1, m1, e1), (big, t2, m2, e2) in itertools.pairwise(results):
        net1, net2 = max(t1 - startup, 1e-3), max(t2 - startup, 1e-3)
        # A failed (timed out) larger run gives a lower bound; a failed smaller one, nothing.
        mark = "n/a" if e1 else ">= " if e2 else ""
        growth.append(
            [
                f"{big.tickets:,} / {small.tickets:,}",
                f"{big.tickets / small.tickets:.0f}x",
                mark if e1 else f"{mark}{t2 / t1:.2f}",
                mark if e1 else f"{mark}{net2 / net1:.2f}",
                mark if e1 else f"{mark}{m2 / m1:.2f}",
            ]
        )
    print(table(["sizes", "data", "time", "time minus start-up", "peak RSS"], growth))
    print(f"\ngoal: < {GOAL_SECONDS:.0f} s and < 1 GiB at every size")
    for scaled, seconds, rss, error in results:
        ok = error is None and seconds < GOAL_SECONDS and rss < GOAL_RSS_KIB
        detail = error or f"{seconds:.2f} s, {human(rss)}"
        print(f"  {scaled.tickets:>9,} tickets: {verdict(ok)} ({detail})")
    return 0


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
        "--profile", action="store_true", help="profile the largest size once more (py-spy or "
        "cProfile)",
    )  # fmt: skip
    parser.add_argument("--py-spy", help="path to py-spy (default: found on PATH)")
    parser.add_argument("--top", type=int, default=15, help="profile lines to print (15)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
