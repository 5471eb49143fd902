"""Retention deletes what is too old, in bounded batches, on one replica at a time."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis_async
from history.db import Database
from history.ingest import rows_of
from history.retention import DAY_MS, LEASE_NAME, RetentionSettings, retention_lease, run_retention_once
from history.writes import write_events, write_receipts
from notify_common.keys import Keys
from notify_common.publish import build_event
from redis.exceptions import LockNotOwnedError

NOW = 1_800_000_000_000
SETTINGS = RetentionSettings(max_age_days=30, batch=10, interval_s=3600, lease_ms=5000)


async def store_many(db: Database, prefix: str, count: int, at_ms: int) -> None:
    rows, recipients = [], []
    for i in range(count):
        event = build_event(
            id=f"{prefix}-{i}", type="note", audience={"kind": "users", "ids": ["alice", "bob"]}
        )
        row, inbox = rows_of(event, f"{at_ms + i}-0")
        rows.append(row)
        recipients += inbox
    await write_events(db, rows, recipients)


async def count(db: Database, table: str) -> int:
    return int((await db.fetch(f"SELECT count(*) FROM {table}"))[0][0])


async def test_two_replicas_one_runs_and_deletes_only_what_is_too_old(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    await store_many(db, "old", 35, NOW - 31 * DAY_MS)
    await store_many(db, "new", 5, NOW - 29 * DAY_MS)
    await write_receipts(db, [("old-0", "alice", "delivered", "socket", NOW - 31 * DAY_MS, "g", "")])
    results = await asyncio.gather(
        run_retention_once(db, redis, keys, SETTINGS, now_ms=NOW),
        run_retention_once(db, redis, keys, SETTINGS, now_ms=NOW),
    )
    assert sorted(results, key=str) == [35, None]
    assert await count(db, "notifications") == 5
    assert await count(db, "inbox") == 10
    assert await count(db, "deliveries") == 0
    assert await redis.exists(keys.lease(LEASE_NAME)) == 0  # released after the run


async def test_receipts_of_never_stored_notifications_age_out_too(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    await write_receipts(db, [("transient-1", "alice", "delivered", "socket", NOW - 40 * DAY_MS, "g", "")])
    await run_retention_once(db, redis, keys, SETTINGS, now_ms=NOW)
    assert await count(db, "deliveries") == 0


async def test_retention_waits_while_another_replica_holds_the_lease(
    db: Database, redis: redis_async.Redis, keys: Keys
) -> None:
    await store_many(db, "old", 3, NOW - 31 * DAY_MS)
    other = retention_lease(redis, keys, 5000)
    assert await other.acquire()
    assert await run_retention_once(db, redis, keys, SETTINGS, now_ms=NOW) is None
    assert await count(db, "notifications") == 3
    await other.release()
    assert await run_retention_once(db, redis, keys, SETTINGS, now_ms=NOW) == 3


async def test_an_expired_holder_cannot_renew_or_release_the_next_holders_lease(
    redis: redis_async.Redis, keys: Keys
) -> None:
    key = keys.lease(LEASE_NAME)
    first = retention_lease(redis, keys, 5000)
    assert await first.acquire(token="first")
    await redis.delete(key)  # as if it expired while the first holder stalled
    second = retention_lease(redis, keys, 5000)
    assert await second.acquire(token="second")
    with pytest.raises(LockNotOwnedError):
        await first.extend(5, replace_ttl=True)
    with pytest.raises(LockNotOwnedError):
        await first.release()
    assert await redis.get(key) == b"second"
    assert await second.extend(5, replace_ttl=True)
    assert 4000 < await redis.pttl(key) <= 5000
