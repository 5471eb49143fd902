"""The loop that sends due retries from the durable schedule."""

from __future__ import annotations

import asyncio
import time

import structlog
from notify_common import metrics as common_metrics
from notify_common.clock import now_ms
from notify_common.lifecycle import periodic

from push_worker import metrics
from push_worker.schedule import claim_due
from push_worker.sender import Sender, pushed_targets, reported_users, split_pushed

log = structlog.get_logger("push_worker.retries")
BACKLOG_EVERY_S = 5.0


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
    next_backlog = 0.0

    async def send_due() -> float:
        nonlocal next_backlog
        paused = sender.paused_s()
        if paused > 0:
            return min(paused, poll_s)
        try:
            if time.monotonic() >= next_backlog:
                metrics.RETRY_BACKLOG.set(await sender.retries.size())
                next_backlog = time.monotonic() + BACKLOG_EVERY_S
            if await send_due_retries(sender):
                return 0
            due = await sender.retries.next_due_ms()
        except Exception:
            common_metrics.REDIS_ERRORS.labels(loop="push_retries").inc()
            raise
        return poll_s if due is None else min(poll_s, max(0.0, (due - now_ms()) / 1000))

    await periodic("push_retries", send_due, poll_s, stop, backoff_base_s=0.2, backoff_cap_s=10.0)
