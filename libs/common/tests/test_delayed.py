"""The delayed queue shared by router scheduling and push-worker retries, on a real Redis."""

from __future__ import annotations

import redis.asyncio as redis_async
from notify_common.delayed import DelayedQueue
from notify_common.keys import Keys


def queue(redis: redis_async.Redis, keys: Keys) -> DelayedQueue:
    return DelayedQueue(redis, keys.scheduled, keys.scheduled_events)


async def put(q: DelayedQueue, items: dict[str, tuple[bytes, int]], *, keep_due: bool = False) -> None:
    pipe = q.client.pipeline(transaction=False)
    q.put(
        pipe,
        {i: body for i, (body, _) in items.items()},
        {i: due for i, (_, due) in items.items()},
        keep_due=keep_due,
    )
    await pipe.execute()


async def test_only_due_items_are_claimed_with_their_bodies(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {"due": (b"a", 1000), "later": (b"b", 5000)})
    assert await q.claim(now_ms=2000, limit=10, lease_ms=60_000) == [("due", b"a")]
    assert await q.next_due_ms() == 5000
    assert await q.size() == 2


async def test_a_claimed_item_is_hidden_from_other_claimers(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {"n1": (b"a", 1000)})
    assert len(await q.claim(now_ms=2000, limit=10, lease_ms=60_000)) == 1
    assert await queue(redis, keys).claim(now_ms=2001, limit=10, lease_ms=60_000) == []


async def test_a_claim_whose_holder_died_is_due_again_after_the_lease(
    redis: redis_async.Redis, keys: Keys
) -> None:
    q = queue(redis, keys)
    await put(q, {"n1": (b"a", 1000)})
    await q.claim(now_ms=2000, limit=10, lease_ms=60_000)
    assert await q.claim(now_ms=62_000, limit=10, lease_ms=60_000) == [("n1", b"a")]


async def test_claim_takes_at_most_limit_items_earliest_first(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {f"n{i}": (b"x", 1000 + i) for i in range(5)})
    assert [i for i, _ in await q.claim(now_ms=2000, limit=2, lease_ms=60_000)] == ["n0", "n1"]


async def test_an_item_whose_body_was_lost_is_claimed_with_none(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await redis.zadd(keys.scheduled, {"orphan": 1000})
    assert await q.claim(now_ms=2000, limit=10, lease_ms=1) == [("orphan", None)]


async def test_keep_due_leaves_an_existing_due_time_alone(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {"n1": (b"a", 1000)})
    await put(q, {"n1": (b"a", 3000)}, keep_due=True)
    assert await q.next_due_ms() == 1000
    await put(q, {"n1": (b"a", 3000)})
    assert await q.next_due_ms() == 3000 and await q.size() == 1


async def test_removed_and_discarded_items_are_gone(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {"n1": (b"a", 1000), "n2": (b"b", 1000)})
    pipe = redis.pipeline(transaction=True)
    q.remove(pipe, ["n1"])
    await pipe.execute()
    await q.discard(["n2"])
    assert await q.held(["n1", "n2"]) == [False, False]
    assert await q.claim(now_ms=2000, limit=10, lease_ms=1) == []
    assert await q.next_due_ms() is None and await redis.hlen(keys.scheduled_events) == 0


async def test_claiming_works_after_redis_lost_its_script_cache(redis: redis_async.Redis, keys: Keys) -> None:
    q = queue(redis, keys)
    await put(q, {"due": (b"a", 1000)})
    await redis.script_flush()  # as after a restart: the claim meets NOSCRIPT, loads and runs once
    assert await q.claim(now_ms=2000, limit=10, lease_ms=60_000) == [("due", b"a")]
    assert await redis.zscore(keys.scheduled, "due") == 62_000
