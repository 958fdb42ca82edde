"""Start-up: ``python -m sla report`` on an empty (migrated) database, against the floor.

Why: every report run pays the start-up (interpreter, imports, the migration check) before
reading a single row; the goal is under 1 s. On a shared 2-core machine wall time drifts, so
the runs are interleaved (floor, report, floor, report, ...) and both the median wall time
and the median CPU time (user + system of the child, which other load barely moves) are
printed, with the ratios:

- **report / interpreter**: against ``python -c pass``;
- **report / libraries**: against a bare ``import`` of what any report needs
  (SQLAlchemy's asyncio ORM, aiosqlite, pydantic-settings);
- with ``--before REV``: the same command of an older commit (a temporary git worktree) in
  the same interleaved runs.

    python -m bench.startup
    python -m bench.startup --before 6f66f35 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    PROJECT_ROOT,
    add_worktree,
    load_average,
    machine_summary,
    median,
    remove_worktree,
    table,
)

GOAL_SECONDS = 1.0
LIBRARIES = "import sqlalchemy.ext.asyncio, sqlalchemy.orm, aiosqlite, pydantic_settings"
MONTH = "2026-10"


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{error[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def migrate(database: Path, tree: Path = PROJECT_ROOT) -> None:
    subprocess.run(
        [sys.executable, "-c", f"from crm.db import upgrade_database; "
         f"upgrade_database('sqlite+aiosqlite:///{database}')"],
        cwd=tree, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip


def run(args: argparse.Namespace, data_dir: Path) -> int:
    print(machine_summary(data_dir))
    database = data_dir / "empty.db"
    migrate(database)
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    report = [sys.executable, "-m", "sla", "report", "--month", MONTH, "--format", "json"]
    report += ["--output", os.devnull]
    cases: list[tuple[str, list[str], Path]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], PROJECT_ROOT),
        ("libraries a report needs", [sys.executable, "-c", LIBRARIES], PROJECT_ROOT),
        ("python -m sla report (this tree)", report, PROJECT_ROOT),
    ]
    before: Path | None = None
    if args.before:
        before = add_worktree(args.before, "bench-startup-before-")
        # An empty database migrated by the old code to its own head.
        migrate(data_dir / "empty-before.db", before)
        cases.append((f"python -m sla report ({args.before})", report, before))
    walls: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    try:
        for _ in range(args.repeat + 1):  # the first round warms the caches, uncounted
            for name, command, cwd in cases:
                case_env = dict(env)
                if cwd != PROJECT_ROOT:
                    case_env["DATABASE_URL"] = f"sqlite+aiosqlite:///{data_dir / 'empty-before.db'}"
                wall, cpu = timed(command, case_env, cwd)
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        if before is not None:
            remove_worktree(before)
    rows = [
        [name, f"{median(walls[name][1:]):.3f}", f"{median(cpus[name][1:]):.3f}"]
        for name, _, _ in cases
    ]
    print(f"\nmedians of {args.repeat} interleaved runs (after one warm-up round)")
    print(table(["command", "wall s", "CPU s"], rows))
    ours = "python -m sla report (this tree)"
    cpu_ours = median(cpus[ours][1:])
    wall_ours = median(walls[ours][1:])
    print("\nratios (CPU, same run)")
    for name, _, _ in cases:
        if name != ours:
            print(f"  report / {name}: {cpu_ours / median(cpus[name][1:]):.2f}")
    print(f"\ngoal: under {GOAL_SECONDS:.0f} s on an empty database")
    print(
        f"  wall {wall_ours:.2f} s, CPU {cpu_ours:.2f} s: {'met' if wall_ours < 1 else 'NOT met'}"
    )
    print(load_average())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs (5)")
    parser.add_argument("--before", help="also time this commit (a temporary git worktree)")
    parser.add_argument("--tmp-dir", help="where the temporary database goes (default: TMPDIR)")
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=args.tmp_dir))
    try:
        return run(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
