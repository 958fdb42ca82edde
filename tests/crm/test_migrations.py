"""Alembic stairway: every revision upgrades, downgrades and upgrades again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from crm.db import alembic_config, downgrade_database, upgrade_database


def revisions(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_there_is_one_line_of_revisions(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    assert len(script.get_heads()) == 1


@pytest.mark.parametrize("revision", revisions("sqlite+aiosqlite:///unused.db"))
def test_stairway(database_url: str, revision: str) -> None:
    url = database_url
    script = ScriptDirectory.from_config(alembic_config(url))
    previous = script.get_revision(revision).down_revision or "base"
    upgrade_database(url, revision)
    downgrade_database(url, previous if isinstance(previous, str) else previous[0])
    upgrade_database(url, revision)
