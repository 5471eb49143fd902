"""The embedded store: one SQLite file in WAL mode, driven by aiosqlite (its own thread).

One writer connection behind a lock (SQLite has one writer at a time; the lock also keeps two
coroutines from sharing a transaction) and one reader connection, which WAL lets read while the
writer writes. Every statement runs in aiosqlite's thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Literal

import aiosqlite

from history import metrics
from history.db import Columns, Row
from history.schema import BULK_COLUMNS

_PARAM = re.compile(r"\$(\d+)")


def to_sqlite(sql: str) -> str:
    """`$1` -> `?1`: SQLite's numbered parameters keep the same numbering."""
    return _PARAM.sub(r"?\1", sql)


def _bulk_sql(table: str) -> str:
    names = [name for name, _ in BULK_COLUMNS[table]]
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) ON CONFLICT DO NOTHING"


def _batch_sql(sql: str, columns: Columns) -> str:
    """The statement over a one-row `batch`, stepped once per row by executemany."""
    names = ", ".join(name for name, _ in columns)
    marks = ", ".join(f"?{i}" for i in range(1, len(columns) + 1))
    return f"WITH batch ({names}) AS (VALUES ({marks})) {sql}"


_BULK_SQL = {table: _bulk_sql(table) for table in BULK_COLUMNS}


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.execute("PRAGMA journal_mode = WAL")
    # WAL + NORMAL: a commit survives a process crash; an OS crash may lose the last commits.
    await conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class SqliteSession:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self.conn.execute(to_sqlite(sql), args) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, *args: object) -> int:
        async with self.conn.execute(to_sqlite(sql), args) as cursor:
            return int(cursor.rowcount)

    async def execute_batch(self, sql: str, columns: Columns, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.executemany(_batch_sql(sql, columns), rows)

    async def insert_many(self, table: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.executemany(_BULK_SQL[table], rows)


class SqliteDatabase:
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        writer = await _connect(path)
        reader = await _connect(path)
        return cls(writer, reader)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self.reader.execute(to_sqlite(sql), args) as cursor:
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SqliteSession]:
        async with self.lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteSession(self.writer)
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")
            metrics.COMMITS.inc()

    async def close(self) -> None:
        await self.reader.close()
        await self.writer.close()
