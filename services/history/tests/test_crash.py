"""A history process SIGKILLed inside its write window loses nothing: what it had read but not
committed is still pending, and the restarted replica stores it once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_async
from devstack.fleet import DEV_JWT_SECRET
from devstack.polling import wait_until
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.publish import build_event
from notify_common.schemas import FIELD_EVENT, FIELD_RECEIPT, Receipt, encode

pytestmark = pytest.mark.e2e

EVENTS = 50
# Long enough that the kill lands inside the window even on a loaded machine.
WINDOW_MS = 5000


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.kill()


def history_process(
    redis_url: str, keys: Keys, database: Path, workdir: Path, log_name: str
) -> ServiceProcess:
    """`python -m history` as replica `history-1` (a restart keeps the consumer name)."""
    ops_port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": keys.prefix,
        "NODE_ID": "history-1",
        "OPS_PORT": str(ops_port),
        "API_PORT": "0",
        "JWT_SECRET": DEV_JWT_SECRET,
        "DATABASE_URL": f"sqlite:///{database}",
        "HISTORY_WRITE_WINDOW_MS": str(WINDOW_MS),
        "LOG_FORMAT": "console",
    }
    return ServiceProcess("history-1", "history", env, ops_port, workdir / log_name)


async def pending(redis: redis_async.Redis, keys: Keys) -> list[int]:
    """Entries history read but has not acked, on ingress and on receipts."""
    return [int((await redis.xpending(s, GROUP_HISTORY))["pending"]) for s in (keys.ingress, keys.receipts)]


def stored(database: Path, table: str) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_history_sigkilled_inside_its_write_window_loses_nothing(
    redis: redis_async.Redis, redis_url: str, keys: Keys, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    # Written before the start, so the first read takes them all and then waits out the window.
    pipe = redis.pipeline(transaction=False)
    for i in range(EVENTS):
        event = build_event(id=f"k{i}", type="note", audience={"kind": "users", "ids": [f"u{i}"]})
        receipt = Receipt(
            notification_id=f"k{i}", user_id=f"u{i}", kind="delivered", channel="socket", at_ms=i
        )
        pipe.xadd(keys.ingress, {FIELD_EVENT: encode(event)})
        pipe.xadd(keys.receipts, {FIELD_RECEIPT: encode(receipt)})
    await pipe.execute()
    database = tmp_path / "history.db"
    first = history_process(redis_url, keys, database, tmp_path, "first.log")
    processes.append(first)
    first.start().wait_ready(30)

    async def all_read_none_acked() -> bool:
        return await pending(redis, keys) == [EVENTS, EVENTS]

    await wait_until(all_read_none_acked, 30)
    first.kill()  # SIGKILL with both batches read and waiting out the window
    assert stored(database, "notifications") == 0, "killed after the commit, not inside the window"

    second = history_process(redis_url, keys, database, tmp_path, "second.log")
    processes.append(second)
    second.start().wait_ready(30)

    async def all_stored_and_acked() -> bool:
        return await pending(redis, keys) == [0, 0] and stored(database, "deliveries") == EVENTS

    await wait_until(all_stored_and_acked, 30)
    assert second.stop() == 0
    assert stored(database, "notifications") == EVENTS
    assert stored(database, "inbox") == EVENTS
