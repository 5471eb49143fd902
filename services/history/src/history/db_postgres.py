"""PostgreSQL through an asyncpg pool; bulk inserts bind one typed array per column."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import asyncpg

from history import metrics
from history.db import Columns, DatabaseUnavailable, Row
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


def _unnest(columns: Columns) -> str:
    """One typed array parameter per column, zipped back into rows."""
    arrays = ", ".join(f"${i}::{pg_type}[]" for i, (_, pg_type) in enumerate(columns, start=1))
    return f"SELECT * FROM unnest({arrays})"


def _bulk_sql(table: str) -> str:
    columns = BULK_COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    return f"INSERT INTO {table} ({names}) {_unnest(columns)} ON CONFLICT DO NOTHING"


def _batch_sql(sql: str, columns: Columns) -> str:
    names = ", ".join(name for name, _ in columns)
    return f"WITH batch ({names}) AS ({_unnest(columns)}) {sql}"


def _as_columns(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def _keep_session(conn: Any) -> None:
    """Released connections skip asyncpg's default reset (`RESET ALL`, `UNLISTEN *`, …: one round
    trip per transaction): history changes no session state (no SET, LISTEN, advisory locks or
    cursors held open). asyncpg still rolls back a transaction left open before calling this."""


_BULK_SQL = {table: _bulk_sql(table) for table in BULK_COLUMNS}


class PostgresSession:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self.conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: object) -> int:
        return _rowcount(await self.conn.execute(sql, *args))

    async def execute_batch(self, sql: str, columns: Columns, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.execute(_batch_sql(sql, columns), *_as_columns(rows))

    async def insert_many(self, table: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            await self.conn.execute(_BULK_SQL[table], *_as_columns(rows))


class PostgresDatabase:
    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=pool_size, command_timeout=30, reset=_keep_session
        )
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
            metrics.COMMITS.inc()
        finally:
            await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()
