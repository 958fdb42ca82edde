"""Outbox worker: CPU per delivered row, against the size of the backlog.

Why: a burst leaves thousands of rows pending; if each delivery pass reads the backlog, every
send gets slower as it grows (close to quadratic under a burst). The cost per delivered row
must follow the rows sent, not the rows waiting.

Each measurement (``bench/outbox_child.py``) fills a fresh SQLite file with a backlog (half
texts to private chats, half copies into forum topics), runs the real ``OutboxWorker`` with a
stub bot that answers at once, and reports the worker process's CPU seconds per delivered
row, in two scenarios (500 private chats and 500 topics at every size, so only the depth
of each chat's queue grows; the cost of a pass follows the chats waiting, one index probe
each, and the rows sent):

- **drain**: limits raised, deliver the whole backlog;
- **limited**: 300/s overall, 1/s per private chat, 1,200/min for the group, for a few
  seconds: most of the backlog waits, as it does under Telegram's real limits;
- **drain via Bot API**: as drain, but each send goes through the code's own Bot API client
  (``bot.telegram.make_bot``: aiogram, its session, aiohttp) to a minimal Bot API in
  another process that answers every call at once (its CPU is not counted): the cost per
  row a burst really pays, request and answer included.

``--before REV`` runs the same measurements against an older commit in a temporary
``git worktree`` in the same invocation, so the two are compared on the same machine at the
same time.

    python -m bench.outbox                      # this tree only
    python -m bench.outbox --before 6f66f35     # and the old code, back to back
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, add_worktree, machine_summary, remove_worktree, table

CHILD = Path(__file__).with_name("outbox_child.py")
CHATS = 500
LIMITED = ["--overall", "300", "--private", "1", "--group", "1200"]


def scenarios(full: bool) -> list[tuple[str, int, list[str]]]:
    small, large = (2000, 20000) if full else (1000, 10000)
    return [
        ("drain", small, []),
        ("drain", large, []),
        ("limited 3 s", small, [*LIMITED, "--seconds", "3"]),
        ("limited 3 s", large, [*LIMITED, "--seconds", "3"]),
        ("drain via Bot API", small, ["--api"]),
        ("drain via Bot API", large, ["--api"]),
    ]


def measure(tree: Path, backlog: int, extra: list[str], tmp_dir: str | None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # The same chats and topics at every size: only how many rows wait behind each grows.
    command = [sys.executable, str(CHILD), "--backlog", str(backlog), *extra]
    command += ["--chats", str(CHATS), "--topics", str(CHATS)]
    if tmp_dir:
        command += ["--tmp-dir", tmp_dir]
    out = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"measurement failed in {tree}:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> int:
    print(machine_summary(Path(args.tmp_dir or tempfile.gettempdir())))
    trees: list[tuple[str, Path]] = [("this tree", PROJECT_ROOT)]
    before: Path | None = None
    if args.before:
        before = add_worktree(args.before, "bench-outbox-before-")
        trees.insert(0, (f"before ({args.before})", before))
    rows: list[list[object]] = []
    per_row: dict[tuple[str, str, int], float] = {}
    try:
        for scenario, backlog, extra in scenarios(args.full):
            for label, tree in trees:
                print(f"  {label}: {scenario}, backlog {backlog:,} ...", flush=True)
                result = measure(tree, backlog, extra, args.tmp_dir)
                delivered = max(result["delivered"], 1)
                ms = 1000 * result["cpu"] / delivered
                per_row[(label, scenario, backlog)] = ms
                rows.append(
                    [label, scenario, f"{backlog:,}", result["delivered"], f"{result['cpu']:.2f}",
                     f"{result['wall']:.2f}", f"{ms:.2f}"]
                )  # fmt: skip
    finally:
        if before is not None:
            remove_worktree(before)
    headers = ["code", "scenario", "backlog", "delivered", "CPU s", "wall s", "CPU ms/row"]
    print()
    print(table(headers, rows))
    print("\nratios (same run)")
    names = [label for label, _ in trees]
    for scenario in dict.fromkeys(s for s, _, _ in scenarios(args.full)):
        backlogs = sorted({b for s, b, _ in scenarios(args.full) if s == scenario})
        for label in names:
            growth = (
                per_row[(label, scenario, backlogs[-1])] / per_row[(label, scenario, backlogs[0])]
            )
            print(
                f"  {label}, {scenario}: CPU per row at backlog {backlogs[-1]:,} / "
                f"{backlogs[0]:,} = {growth:.2f} (1.0: independent of the backlog)"
            )
        if len(names) == 2:
            for backlog in backlogs:
                gain = (
                    per_row[(names[0], scenario, backlog)] / per_row[(names[1], scenario, backlog)]
                )
                print(f"  {scenario}, backlog {backlog:,}: before / now = {gain:.1f}x less CPU")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument("--before", help="also measure this commit (a temporary git worktree)")
    parser.add_argument("--full", action="store_true", help="backlogs 2,000 and 20,000")
    parser.add_argument("--tmp-dir", help="where the temporary databases go (default: TMPDIR)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
