"""Notification store (SQLite for now; PostgreSQL arrives with the history issue)."""

from __future__ import annotations

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
)
"""


class SqliteStore:
    """Writes notifications idempotently (primary key on recipient and notification id)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self.db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute(SCHEMA)
        await self.db.commit()

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()

    async def insert(self, rows: list[tuple[str, str, str, str, str, str, int]]) -> None:
        assert self.db is not None
        await self.db.executemany("INSERT OR IGNORE INTO notifications VALUES (?,?,?,?,?,?,?)", rows)
        await self.db.commit()
