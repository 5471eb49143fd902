"""The loop that sends due retries from the durable schedule."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from notify_common import metrics as common_metrics
from notify_common.backoff import backoff_delay
from notify_common.clock import now_ms

from push_worker import metrics
from push_worker.schedule import claim_due
from push_worker.sender import Sender, pushed_targets, reported_users, split_pushed

log = structlog.get_logger("push_worker.retries")
BACKLOG_EVERY_S = 5.0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def send_due_retries(sender: Sender) -> int:
    """Claim due retries and send them; returns how many were claimed."""
    cfg = sender.cfg
    claimed = await claim_due(
        sender.retries,
        now_ms(),
        limit=cfg.fcm_batch_size * cfg.fcm_max_in_flight,
        lease_ms=int(cfg.push_retry_lease_s * 1000),
    )
    if not claimed:
        return 0
    pushed = await pushed_targets(sender.client, sender.keys, [s.notification.id for s in claimed])
    fresh, done = split_pushed(claimed, pushed)
    ledger = sender.ledger(from_schedule=True, reported=reported_users(pushed))
    ledger.duplicates.extend(done)  # pushed by a job redelivery meanwhile: just drop the retry
    await sender.push(fresh, ledger)
    return len(claimed)


async def retry_loop(sender: Sender, stop: asyncio.Event) -> None:
    """Until `stop`: send what is due, otherwise sleep until the next due time (bounded)."""
    poll_s = sender.cfg.push_retry_poll_s
    failures = 0
    next_backlog = 0.0
    while not stop.is_set():
        try:
            paused = sender.paused_s()
            if paused > 0:
                await _wait(stop, min(paused, poll_s))
                continue
            if time.monotonic() >= next_backlog:
                metrics.RETRY_BACKLOG.set(await sender.retries.size())
                next_backlog = time.monotonic() + BACKLOG_EVERY_S
            if await send_due_retries(sender):
                failures = 0
                continue
            due = await sender.retries.next_due_ms()
            failures = 0
            wait_s = poll_s if due is None else min(poll_s, max(0.0, (due - now_ms()) / 1000))
            await _wait(stop, wait_s)
        except Exception as exc:  # Redis away or a bug: log, back off, keep the loop alive
            failures += 1
            common_metrics.REDIS_ERRORS.labels(loop="push_retries").inc()
            delay = backoff_delay(failures, base=0.2, cap=10.0)
            log.exception("retry_loop_failed", error=repr(exc), retry_in_s=round(delay, 2))
            await _wait(stop, delay)
