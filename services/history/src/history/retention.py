"""Retention: delete notifications older than RETENTION_DAYS in bounded batches, one replica at
a time (a Redis lease: redis-py's `Lock`), and report what was removed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as redis_async
import structlog
from notify_common import clock
from notify_common.keys import Keys
from notify_common.lifecycle import periodic
from redis.asyncio.lock import Lock
from redis.exceptions import LockNotOwnedError

from history import metrics
from history.db import Database
from history.writes import delete_older_than

log = structlog.get_logger("history.retention")

LEASE_NAME = "history-retention"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    max_age_days: float
    batch: int
    interval_s: float
    lease_ms: int


def retention_lease(client: redis_async.Redis, keys: Keys, lease_ms: int) -> Lock:
    """The lease one replica holds while it deletes: SET NX PX with a random token, extended and
    released only by its holder (redis-py's scripts compare the token), never waited for."""
    return client.lock(keys.lease(LEASE_NAME), timeout=lease_ms / 1000, blocking=False, thread_local=False)


async def run_retention_once(
    db: Database,
    client: redis_async.Redis,
    keys: Keys,
    settings: RetentionSettings,
    now_ms: int | None = None,
) -> int | None:
    """One run under the lease: the number of notifications deleted, or None if another replica
    holds the lease. Stops early (keeping what it did) if the lease is lost between batches."""
    lease = retention_lease(client, keys, settings.lease_ms)
    if not await lease.acquire(token=secrets.token_hex(16)):
        return None
    cutoff_ms = (now_ms if now_ms is not None else clock.now_ms()) - int(settings.max_age_days * DAY_MS)
    deleted = 0
    started = time.monotonic()
    try:
        while True:
            removed = await delete_older_than(db, cutoff_ms, settings.batch)
            deleted += removed
            metrics.RETENTION_DELETED.inc(removed)
            if removed < settings.batch:
                break
            try:
                await lease.extend(settings.lease_ms / 1000, replace_ttl=True)
            except LockNotOwnedError:  # it expired, and may be another replica's now
                log.warning("retention_lease_lost", deleted=deleted)
                break
    finally:
        with contextlib.suppress(LockNotOwnedError):  # lost: it is not ours to release
            await lease.release()
    log.info(
        "retention_done",
        deleted=deleted,
        cutoff_ms=cutoff_ms,
        seconds=round(time.monotonic() - started, 3),
    )
    return deleted


async def retention_loop(
    db: Database, client: redis_async.Redis, keys: Keys, settings: RetentionSettings, stop: asyncio.Event
) -> None:
    """Run retention every `interval_s` until `stop`; failures are logged and retried next time."""

    async def once() -> None:
        await run_retention_once(db, client, keys, settings)

    # a failed run waits the interval too: a database in trouble needs no hurried retention
    await periodic(
        "retention",
        once,
        settings.interval_s,
        stop,
        backoff_base_s=settings.interval_s,
        backoff_cap_s=settings.interval_s,
    )
