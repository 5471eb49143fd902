"""Migrations: applied once, in order, recorded; a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

from history.db import Database, open_database
from history.migrate import migrate
from history.schema import LATEST


async def test_second_run_applies_nothing_and_versions_are_recorded(db: Database) -> None:
    assert await migrate(db) == []
    versions = [int(r[0]) for r in await db.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, LATEST + 1))


async def test_unversioned_thin_path_table_is_kept_aside(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        async with db.session() as s:
            await s.execute("CREATE TABLE notifications (id TEXT, user_id TEXT)")
            await s.execute("INSERT INTO notifications VALUES ('n1', 'alice')")
        assert await migrate(db) == list(range(1, LATEST + 1))
        assert [tuple(r) for r in await db.fetch("SELECT * FROM notifications_unversioned")] == [
            ("n1", "alice")
        ]
    finally:
        await db.close()
