"""The shape a newcomer can rely on: no function too long to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "crm", "sla")
# About a screen: longer than this and a function does several things that want names.
MAX_FUNCTION_LINES = 80


def _functions() -> list[tuple[str, str, int]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # A migration is a script that runs once, read top to bottom.
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    assert node.end_lineno is not None
                    length = node.end_lineno - node.lineno + 1
                    found.append((str(path.relative_to(ROOT)), node.name, length))
    return found


def test_the_length_scan_reads_the_real_packages() -> None:
    names = {name for _path, name, _length in _functions()}
    assert {"run_bot", "monthly_report"} <= names


def test_no_function_is_longer_than_a_screen() -> None:
    too_long = [
        f"{path}: {name} ({length} lines)"
        for path, name, length in _functions()
        if length > MAX_FUNCTION_LINES
    ]
    assert too_long == []
