"""Retention: delete notifications older than RETENTION_DAYS in bounded batches, one replica at
a time (a Redis lease), and report what was removed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import redis.asyncio as redis_async
import structlog
from notify_common import clock
from notify_common.keys import Keys

from history import metrics
from history.db import Database
from history.lease import Lease
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


async def run_retention_once(
    db: Database,
    client: redis_async.Redis,
    keys: Keys,
    settings: RetentionSettings,
    now_ms: int | None = None,
) -> int | None:
    """One run under the lease: the number of notifications deleted, or None if another replica
    holds the lease. Stops early (keeping what it did) if the lease is lost between batches."""
    lease = Lease(client, keys.lease(LEASE_NAME), settings.lease_ms)
    if not await lease.acquire():
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
            if not await lease.renew():
                log.warning("retention_lease_lost", deleted=deleted)
                break
    finally:
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
    while not stop.is_set():
        try:
            await run_retention_once(db, client, keys, settings)
        except Exception:
            log.exception("retention_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.interval_s)
