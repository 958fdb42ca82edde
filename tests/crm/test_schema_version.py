"""The report's quick migration check agrees with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from crm.db import alembic_config, make_engine, upgrade_database_async
from crm.schema_version import code_heads, is_current


def test_the_heads_read_from_the_migration_files_are_alembics(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    assert code_heads() == frozenset(script.get_heads())


async def test_a_new_database_is_not_current_and_a_migrated_one_is(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/support.db"
    engine = make_engine(url)
    try:
        assert not await is_current(engine)
        await upgrade_database_async(url)
        assert await is_current(engine)
    finally:
        await engine.dispose()
