"""PostgreSQL through an asyncpg pool; bulk inserts bind one typed array per column."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import asyncpg

from history.db import DatabaseUnavailable, Row
from history.schema import BULK_COLUMNS

# The server is away, restarting or full: retry later, the statements themselves are fine.
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    # What asyncpg raises on a pooled connection whose server died while it sat idle.
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}")


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag ("UPDATE 3", "INSERT 0 1"); the count is its last word."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _bulk_sql(table: str) -> str:
    columns = BULK_COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{pg_type}[]" for i, (_, pg_type) in enumerate(columns, start=1))
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"


_BULK_SQL = {table: _bulk_sql(table) for table in BULK_COLUMNS}


class PostgresSession:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self.conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: object) -> int:
        return _rowcount(await self.conn.execute(sql, *args))

    async def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.executemany(sql, rows)

    async def insert_many(self, table: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        columns = [list(column) for column in zip(*rows, strict=True)]
        await self.conn.execute(_BULK_SQL[table], *columns)


class PostgresDatabase:
    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, command_timeout=30)
        return cls(pool)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        try:
            return list(await self.pool.fetch(sql, *args))
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PostgresSession]:
        try:
            conn = await self.pool.acquire()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        try:
            tx = conn.transaction()
            try:
                await tx.start()
            except _UNAVAILABLE as exc:
                raise _unavailable(exc) from exc
            try:
                yield PostgresSession(conn)
            except BaseException as exc:
                if not conn.is_closed():  # a dead connection has no transaction left to roll back
                    with contextlib.suppress(*_UNAVAILABLE, asyncpg.InterfaceError):
                        await tx.rollback()
                if isinstance(exc, _UNAVAILABLE):
                    raise _unavailable(exc) from exc
                raise
            try:
                await tx.commit()
            except _UNAVAILABLE as exc:
                raise _unavailable(exc) from exc
        finally:
            await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()
