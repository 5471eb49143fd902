"""A durable delayed queue in Redis: items wait until due, one replica at a time takes each.

Two keys in one hash slot: a sorted set id -> due unix ms and a hash id -> body. Putting writes
the body first, then the due time, so a claimer never sees a due id without its body (short of
the hash being edited by hand). Claiming is one Lua script: it takes due ids and pushes their
score `lease_ms` into the future, so two replicas never take the same item, and a replica that
dies holding one only delays it by the lease. The claimer removes an item once its effect is
durable; until then a crash leaves it to be claimed again: at-least-once, never lost.

Used by the router (events held for `deliver_at`) and push-worker (retries of failed pushes).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import redis.asyncio as redis_async
from redis.asyncio.client import Pipeline

from notify_common.scripts import Script

# KEYS: due zset, items hash. ARGV: now ms, lease-until ms, max items.
# Returns a flat list: id, body (false when the hash lost it), id, body, ... (no unpack(), so
# no limit on how many one call may claim).
_CLAIM_DUE = Script("""
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
end
return out
""")

ItemId = str | bytes


class DelayedQueue:
    """One delayed queue: `due_key` (sorted set id -> due ms) and `items_key` (hash id -> body)."""

    def __init__(self, client: redis_async.Redis, due_key: str, items_key: str) -> None:
        self.client = client
        self.due_key = due_key
        self.items_key = items_key

    def put(
        self,
        pipe: Pipeline,
        bodies: Mapping[str, bytes],
        due_ms: Mapping[str, int],
        *,
        keep_due: bool = False,
    ) -> None:
        """Queue on `pipe`: store each body, then its due time (`keep_due`: an existing due time
        is not moved)."""
        if not bodies:
            return
        pipe.hset(self.items_key, mapping=dict(bodies))
        pipe.zadd(self.due_key, dict(due_ms), nx=keep_due)

    def remove(self, pipe: Pipeline, ids: Collection[ItemId]) -> None:
        """Queue on `pipe`: take items off the queue (done, dead-lettered or expired)."""
        if not ids:
            return
        pipe.zrem(self.due_key, *ids)
        pipe.hdel(self.items_key, *ids)

    async def discard(self, ids: Collection[ItemId]) -> None:
        """Take items off the queue now."""
        pipe = self.client.pipeline(transaction=False)
        self.remove(pipe, ids)
        await pipe.execute()

    async def claim(self, now_ms: int, limit: int, lease_ms: int) -> list[tuple[str, bytes | None]]:
        """Up to `limit` due items as (id, body or None if lost), hidden from others for `lease_ms`."""
        keys = [self.due_key, self.items_key]
        reply = await _CLAIM_DUE(self.client, keys, (now_ms, now_ms + lease_ms, limit))
        return [(raw_id.decode(), body) for raw_id, body in zip(reply[::2], reply[1::2], strict=True)]

    async def held(self, ids: Collection[str]) -> list[bool]:
        """For each id, whether its item is on the queue (claimed or not)."""
        if not ids:
            return []
        return [body is not None for body in await self.client.hmget(self.items_key, list(ids))]

    async def next_due_ms(self) -> int | None:
        """When the earliest item is due (unix ms), or None if the queue is empty."""
        first = await self.client.zrange(self.due_key, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def size(self) -> int:
        """Items on the queue, due or not."""
        return int(await self.client.zcard(self.due_key))
