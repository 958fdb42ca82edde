"""Whether a database is at the code's migration head, told without loading Alembic.

Alembic's own check imports its runtime and runs env.py: a few hundred milliseconds that
every `python -m crm report` would pay on a database that is already current. The revision
ids are read from the migration files' source (`revision = "..."`, `down_revision = ...`)
and compared with the `alembic_version` table; anything else means: let Alembic decide (it
upgrades, or fails with its own message).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_NAMES = ("revision", "down_revision")


def _revision_ids(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets: list[ast.expr] = [node.target]
        elif isinstance(node, ast.Assign):
            targets = list(node.targets)
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _NAMES:
                values[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
    return values


@cache
def code_heads() -> frozenset[str]:
    """The revisions no other revision builds on (one, normally)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        values = _revision_ids(path)
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, list | tuple):
            parents.update(str(parent) for parent in down)
    return frozenset(revisions - parents)


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database's recorded revisions are exactly the code's heads."""
    try:
        async with engine.connect() as connection:
            rows = await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            found = {str(row[0]) for row in rows}
    except DBAPIError:
        return False  # no version table yet: a new database
    return bool(found) and found == code_heads()
