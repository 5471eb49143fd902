"""The durable retry schedule: pushes waiting for their next attempt, in Redis, not in memory.

`push_retry_schedule` (sorted set id -> due unix ms) and `push_retry_items` (hash id -> Send JSON)
share one hash slot. Claiming is one Lua script: it takes due ids and pushes their score a lease
into the future, so two replicas never take the same retry, and a replica SIGKILLed while
holding one only delays it by the lease.
"""

from __future__ import annotations

import msgspec
import redis.asyncio as redis_async
import structlog
from notify_common.keys import Keys
from redis.asyncio.client import Pipeline

from push_worker.sends import Send, decode_send, encode_send

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return {{}, {}} end
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return {due, redis.call('HMGET', KEYS[2], unpack(due))}
"""
log = structlog.get_logger("push_worker.schedule")
MAX_CLAIM = 2000  # Lua's unpack() limit is ~8000 values


def queue_schedule(pipe: Pipeline, keys: Keys, send: Send, due_ms: int) -> None:
    """Add (or move) `send` to the schedule, due at `due_ms`."""
    pipe.hset(keys.push_retry_items, send.retry_id, encode_send(send))
    pipe.zadd(keys.push_retry_schedule, {send.retry_id: due_ms})


def queue_complete(pipe: Pipeline, keys: Keys, send: Send) -> None:
    """Take `send` off the schedule (it was pushed, dead-lettered or expired)."""
    pipe.zrem(keys.push_retry_schedule, send.retry_id)
    pipe.hdel(keys.push_retry_items, send.retry_id)


async def split_scheduled(
    client: redis_async.Redis, keys: Keys, sends: list[Send]
) -> tuple[list[Send], list[Send]]:
    """(sends not on the retry schedule, sends already on it). A job whose first attempt
    scheduled retries and was then killed before its acknowledgement went out is read again;
    its scheduled sends belong to the schedule, or the target would get the push twice."""
    if not sends:
        return [], []
    present = await client.hmget(keys.push_retry_items, [send.retry_id for send in sends])
    fresh = [send for send, item in zip(sends, present, strict=True) if item is None]
    scheduled = [send for send, item in zip(sends, present, strict=True) if item is not None]
    return fresh, scheduled


async def claim_due(
    client: redis_async.Redis, keys: Keys, now_ms: int, limit: int, lease_ms: int
) -> list[Send]:
    """Due retries, hidden from other replicas for `lease_ms`; unreadable items are dropped."""
    ids, values = await client.eval(
        _CLAIM,
        2,
        keys.push_retry_schedule,
        keys.push_retry_items,
        now_ms,
        min(limit, MAX_CLAIM),
        now_ms + lease_ms,
    )
    sends: list[Send] = []
    lost: list[bytes] = []
    for retry_id, raw in zip(ids, values, strict=True):
        try:
            sends.append(decode_send(raw))
        except (msgspec.DecodeError, TypeError):
            lost.append(retry_id)
    if lost:
        # Only a hand-edited or foreign entry gets here; say so loudly rather than retry it forever.
        log.error("retry_item_unreadable", retry_ids=[i.decode() for i in lost])
        await client.zrem(keys.push_retry_schedule, *lost)
    return sends


async def next_due_ms(client: redis_async.Redis, keys: Keys) -> int | None:
    """When the earliest retry is due (unix ms), or None if none is scheduled."""
    first = await client.zrange(keys.push_retry_schedule, 0, 0, withscores=True)
    return int(first[0][1]) if first else None


async def backlog(client: redis_async.Redis, keys: Keys) -> int:
    """Pushes waiting in the schedule."""
    return int(await client.zcard(keys.push_retry_schedule))
