"""Helpers shared by the benchmarks: machine description, tables, verdicts, statistics."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "? GiB"


def _filesystem(path: Path) -> str:
    findmnt = shutil.which("findmnt")
    if findmnt is None:
        return "?"
    try:
        out = subprocess.run(
            [findmnt, "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return " ".join(out.split()) or "?"


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def machine_summary(data_dir: Path) -> str:
    """One block naming what the figures were measured on (they mean nothing without it)."""
    return "\n".join(
        [
            f"machine: {os.cpu_count()} cores ({_cpu_model()}), {_memory_gib()} RAM, "
            f"{platform.system()} {platform.release()}",
            f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"SQLAlchemy {_package('sqlalchemy')}, aiosqlite {_package('aiosqlite')}, "
            f"aiogram {_package('aiogram')}",
            f"data dir: {data_dir} on {_filesystem(data_dir)}",
            code_version(),
            load_average(),
        ]
    )


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git)."""
    git = shutil.which("git")
    if git is None:
        return "code: unknown (no git)"
    try:
        head = subprocess.run(
            [git, "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            [git, "-C", str(PROJECT_ROOT), "status", "--porcelain", "--", "bot", "crm", "sla"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "code: unknown (git failed)"
    dirty = [line[3:] for line in changed if line.strip()]
    suffix = f" + uncommitted changes in {', '.join(dirty)}" if dirty else ""
    return f"code: commit {head}{suffix}"


def load_average() -> str:
    """Other processes on a 2-core machine skew every figure: say how busy it was."""
    one, five, _ = os.getloadavg()
    return f"load average: {one:.2f} (1 min), {five:.2f} (5 min)"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain fixed-width table (README-pasteable)."""
    text_rows = [[str(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    rule = line(["-" * w for w in widths])
    return "\n".join([line(headers), rule, *(line(r) for r in text_rows)])


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a real observation)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- profiling ------------------------------------------------------------------------------

PROJECT_PACKAGES = ("bot/", "crm/", "sla/")


def find_py_spy(explicit: str | None) -> str | None:
    """py-spy is optional (not a project dependency): an explicit path, or one on PATH."""
    if explicit:
        return explicit
    return shutil.which("py-spy")


def summarize_collapsed(path: Path, top: int = 15) -> str:
    """Top frames of a py-spy ``--format raw`` (collapsed stacks) file: by own samples, and
    by inclusive samples restricted to the project's code (bot/, crm/, sla/)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short_frame(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            if any(package in frame for package in PROJECT_PACKAGES):
                inclusive[frame] = inclusive.get(frame, 0) + count
    if total == 0:
        return "  (no samples)"

    def block(title: str, counts: dict[str, int]) -> list[str]:
        best = sorted(counts.items(), key=lambda item: item[1], reverse=True)[:top]
        return [title] + [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in best]

    lines = [f"  {total} samples"]
    lines += block("  own time (where the CPU is):", own)
    lines += block("  inclusive, project code only:", inclusive)
    return "\n".join(lines)


def _short_frame(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    where = where.rstrip(")")
    for marker in ("site-packages/", f"{PROJECT_ROOT}/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def add_worktree(revision: str, prefix: str) -> Path:
    """A detached checkout of `revision`, to measure an older commit in the same run."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "worktree", "add", "--detach", str(path), revision],
        check=True,
        capture_output=True,
    )
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "worktree", "remove", "--force", str(path)],
        capture_output=True,
    )
    shutil.rmtree(path, ignore_errors=True)
