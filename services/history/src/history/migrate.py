"""Apply the schema migrations: at start-up, or by hand with `python -m history.migrate`.

Safe to run from several replicas at once: PostgreSQL serializes them on an advisory lock,
SQLite on its write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import asyncio
import sys

import structlog
from notify_common.clock import now_ms

from history.db import Database, open_database
from history.schema import CREATE_MIGRATIONS_TABLE, MIGRATIONS

log = structlog.get_logger("history.migrate")

_MIGRATION_LOCK_ID = 7_424_190  # any constant shared by every history replica


async def _rename_thin_path_table(db: Database) -> None:
    """Early local runs made an unversioned `notifications` table; keep it aside, not in the way."""
    if db.dialect != "sqlite":
        return
    async with db.session() as s:
        tables = {r[0] for r in await s.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "notifications" in tables and "schema_migrations" not in tables:
            await s.execute("ALTER TABLE notifications RENAME TO notifications_unversioned")
            log.warning("unversioned_table_renamed", table="notifications_unversioned")


async def migrate(db: Database) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    await _rename_thin_path_table(db)
    applied: list[int] = []
    async with db.session() as s:
        if db.dialect == "postgresql":
            await s.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        await s.execute(CREATE_MIGRATIONS_TABLE)
        done = {int(r[0]) for r in await s.fetch("SELECT version FROM schema_migrations")}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                await s.execute(statement)
            await s.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                version,
                now_ms(),
            )
            applied.append(version)
    if applied:
        log.info("migrations_applied", versions=applied)
    return applied


async def _main(url: str) -> None:
    db = await open_database(url)
    try:
        applied = await migrate(db)
    finally:
        await db.close()
    print(f"applied migrations: {applied or 'none (up to date)'}")


if __name__ == "__main__":
    from notify_common.config import load_or_exit

    from history.config import MigrateConfig

    cfg = load_or_exit(MigrateConfig)
    asyncio.run(_main(cfg.database_url))
    sys.exit(0)
