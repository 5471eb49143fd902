"""The durable retry schedule: pushes waiting for their next attempt, in Redis, not in memory.

A delayed queue (`notify_common.delayed`) of `Send`s: `push_retry_schedule` (sorted set retry id
-> due unix ms) and `push_retry_items` (hash retry id -> Send JSON). Claiming leases each retry,
so two replicas never take the same one, and a replica SIGKILLed while holding one only delays
it by the lease.
"""

from __future__ import annotations

import msgspec
import redis.asyncio as redis_async
import structlog
from notify_common.delayed import DelayedQueue
from notify_common.keys import Keys
from redis.asyncio.client import Pipeline

from push_worker.sends import Send, decode_send, encode_send

log = structlog.get_logger("push_worker.schedule")
MAX_CLAIM = 2000  # retries taken per claim: few enough to be sent well within one lease


def retry_queue(client: redis_async.Redis, keys: Keys) -> DelayedQueue:
    """The queue of push retries."""
    return DelayedQueue(client, keys.push_retry_schedule, keys.push_retry_items)


def queue_schedule(pipe: Pipeline, queue: DelayedQueue, send: Send, due_ms: int) -> None:
    """Add (or move) `send` to the schedule, due at `due_ms`."""
    queue.put(pipe, {send.retry_id: encode_send(send)}, {send.retry_id: due_ms})


def queue_complete(pipe: Pipeline, queue: DelayedQueue, send: Send) -> None:
    """Take `send` off the schedule (it was pushed, dead-lettered or expired)."""
    queue.remove(pipe, [send.retry_id])


async def split_scheduled(queue: DelayedQueue, sends: list[Send]) -> tuple[list[Send], list[Send]]:
    """(sends not on the retry schedule, sends already on it). A job whose first attempt
    scheduled retries and was then killed before its acknowledgement went out is read again;
    its scheduled sends belong to the schedule, or the target would get the push twice."""
    held = await queue.held([send.retry_id for send in sends])
    fresh = [send for send, on_queue in zip(sends, held, strict=True) if not on_queue]
    scheduled = [send for send, on_queue in zip(sends, held, strict=True) if on_queue]
    return fresh, scheduled


async def claim_due(queue: DelayedQueue, now_ms: int, limit: int, lease_ms: int) -> list[Send]:
    """Due retries, hidden from other replicas for `lease_ms`; unreadable items are dropped."""
    sends: list[Send] = []
    lost: list[str] = []
    for retry_id, raw in await queue.claim(now_ms, min(limit, MAX_CLAIM), lease_ms):
        try:
            sends.append(decode_send(raw or b""))  # a body the hash lost (None) is unreadable too
        except msgspec.DecodeError:
            lost.append(retry_id)
    if lost:
        # Only a hand-edited or foreign entry gets here; say so loudly rather than retry it forever.
        log.error("retry_item_unreadable", retry_ids=lost)
        await queue.discard(lost)
    return sends
