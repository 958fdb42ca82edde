"""The layers and the one source of the SLA figures (issue #8).

Imports run one way, bot → crm → sla: the rules can be read, tested and reused without a
database or Telegram. Every figure of the terms (targets, availability bounds, credit
percentages) is written once, in sla/config.py, so a change of the terms is one edit and
the report, the live alerts and the texts cannot disagree.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("bot", "crm", "sla")
# The one home of the terms' figures; migrations are history and are never edited.
FIGURES_HOME = ROOT / "sla" / "config.py"
MIGRATIONS = ROOT / "crm" / "migrations"

# Target durations (A 5.2, A 5.7, B 5.3), as code and as text.
FIGURE_PATTERNS = (
    re.compile(r"\b(minutes|hours)\s*=\s*(10|45|60|8|24)\b(?!\.\d)"),
    re.compile(r"(minutes|hours)\w*\s*:.*\bdefault\s*=\s*(10|45|60|8|24)\b(?!\.\d)"),
    re.compile(r"\b(10|45|60)\s*(min|mins|minutes|минут\w*|минут)\b", re.IGNORECASE),
    re.compile(r"\b(8|24)\s*(h|hours?|час\w*|сағат)\b", re.IGNORECASE),
    # Availability guarantee and bands (A 5.6, 5.8 / B 5.4).
    re.compile(r"(?<![\d.])(99\.9|99\.0|95\.0)(?![\d])"),
    # Credit percentages (A 5.8, 5.14 / B 5.4, 5.10).
    re.compile(r"Decimal\(\s*[\"'](10|15|50|99\.9|99\.0|95\.0)[\"']\s*\)"),
)


def python_files(layer: str) -> Iterator[Path]:
    for path in sorted((ROOT / layer).rglob("*.py")):
        if MIGRATIONS not in path.parents:
            yield path


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports, at the top or inside a function, relative ones resolved
    against the file's package."""
    package = path.relative_to(ROOT).parent.parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield node.lineno, ".".join([*base, node.module or ""]).rstrip(".")
            else:
                yield node.lineno, node.module or ""


def imports_of(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files(layer)
        for line, module in imported_modules(path)
        if module.split(".")[0] in forbidden
    ]


def test_sla_imports_neither_crm_nor_bot() -> None:
    assert imports_of("sla", ("crm", "bot", "sqlalchemy", "aiogram")) == []


def test_crm_does_not_import_bot() -> None:
    assert imports_of("crm", ("bot", "aiogram")) == []


def test_the_rules_load_without_a_database_or_telegram() -> None:
    rule_modules = sorted(
        f"sla.{path.stem}"
        for path in (ROOT / "sla").glob("*.py")
        if path.stem not in ("__init__", "__main__")
    )
    program = (
        "import sys\n"
        f"import sla, {', '.join(rule_modules)}\n"
        "print(sorted({name.split('.')[0] for name in sys.modules}"
        " & {'sqlalchemy', 'crm', 'bot', 'aiogram'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "sla.targets" in rule_modules and "sla.report" in rule_modules
    assert result.stdout.strip() == "[]"


def docstring_lines(tree: ast.AST) -> set[int]:
    """Lines of docstrings and other bare string statements: prose, like comments."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def code_and_strings(path: Path) -> Iterator[tuple[int, str]]:
    """Each line's code and string literals, without comments and docstrings (which may
    quote the terms: that is documentation, not a second source of the figure)."""
    source = path.read_text(encoding="utf-8")
    prose = docstring_lines(ast.parse(source))
    by_line: dict[int, list[str]] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT or token.start[0] in prose:
            continue
        by_line.setdefault(token.start[0], []).append(token.string)
    for line, parts in sorted(by_line.items()):
        yield line, " ".join(parts)


def test_no_sla_target_figure_outside_sla_config() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()}"
        for layer in LAYERS
        for path in python_files(layer)
        if path != FIGURES_HOME
        for line, text in code_and_strings(path)
        if any(pattern.search(text) for pattern in FIGURE_PATTERNS)
    ]
    assert offenders == [], "\n".join(
        ["SLA figures belong in sla/config.py (SlaConfig); read them from there:", *offenders]
    )


def test_the_figure_scan_sees_code_and_texts_but_not_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Restored within 45 minutes (A 5.7)."""\n'
        "# 99.9 % is the guarantee\n"
        "late = timedelta(minutes=10)\n"
        "first_response_minutes: float = Field(default=10, gt=0)\n"
        'label = _("8 hours")\n'
        "line = 99.9\n",
        encoding="utf-8",
    )
    flagged = [
        line
        for line, text in code_and_strings(sample)
        if any(pattern.search(text) for pattern in FIGURE_PATTERNS)
    ]
    assert flagged == [3, 4, 5, 6]
