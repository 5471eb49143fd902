"""The two databases history runs on, behind one small interface.

All SQL is written once with `$1`-style parameters; the SQLite driver rewrites them to `?1`.
Only batch statements differ per driver: PostgreSQL binds one typed array per column and runs
each statement once per batch; SQLite steps the same prepared statement once per row
(executemany, in-process, so a row costs no round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

Row = Sequence[Any]
Dialect = Literal["postgresql", "sqlite"]
Columns = Sequence[tuple[str, str]]
"""Names and PostgreSQL types of the columns of a batch, e.g. `[("user_id", "text")]`."""


class Session(Protocol):
    """Statements inside one transaction, on one connection."""

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def execute_batch(self, sql: str, columns: Columns, rows: Sequence[Sequence[object]]) -> None:
        """Run `sql` over `rows`, which it reads as the table `batch` with `columns`.

        `sql` takes no parameters of its own; on PostgreSQL it runs once for the whole batch.
        """
        ...

    async def insert_many(self, table: str, rows: Sequence[Sequence[object]]) -> None:
        """Insert rows (columns as in schema.BULK_COLUMNS); rows whose key exists are skipped."""
        ...


class Database(Protocol):
    """A PostgreSQL pool or an SQLite file."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        """One read outside any transaction."""
        ...

    def session(self) -> AbstractAsyncContextManager[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        ...

    async def close(self) -> None: ...


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached right now: not the fault of the work in hand.

    A ConnectionError, so the stream consumer backs off and acks nothing, as when Redis is away.
    """


def placeholders(first: int, count: int) -> str:
    """`$first, $first+1, …` for an IN list of `count` values."""
    return ", ".join(f"${i}" for i in range(first, first + count))


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///relative/path` or `sqlite:////absolute/path` URL."""
    return url.removeprefix("sqlite:///")


async def open_database(url: str, *, pool_size: int = 10) -> Database:
    """Connect to DATABASE_URL: postgresql://… (asyncpg pool) or sqlite:///path (embedded)."""
    if is_postgres_url(url):
        from history.db_postgres import PostgresDatabase

        return await PostgresDatabase.connect(url, pool_size=pool_size)
    from history.db_sqlite import SqliteDatabase

    return await SqliteDatabase.open(sqlite_path(url))
