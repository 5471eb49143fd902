"""The retry schedule as push-worker uses it: Sends in, Sends out (the queue itself is tested in
libs/common/tests/test_delayed.py)."""

from __future__ import annotations

import redis.asyncio as redis_async
from notify_common.delayed import DelayedQueue
from notify_common.keys import Keys
from notify_common.schemas import Notification
from push_worker.schedule import claim_due, queue_complete, queue_schedule, retry_queue, split_scheduled
from push_worker.sends import Send


def send(notification_id: str, token: str = "tok") -> Send:
    note = Notification(id=notification_id, type="t", created_ms=1)
    return Send(notification=note, user_id="u1", token=token, platform="android", attempts=2)


async def schedule(client: redis_async.Redis, queue: DelayedQueue, item: Send, due_ms: int) -> None:
    pipe = client.pipeline(transaction=True)
    queue_schedule(pipe, queue, item, due_ms)
    await pipe.execute()


async def test_only_due_retries_are_claimed(redis: redis_async.Redis, keys: Keys) -> None:
    queue = retry_queue(redis, keys)
    await schedule(redis, queue, send("due"), 1000)
    await schedule(redis, queue, send("later"), 5000)
    claimed = await claim_due(queue, now_ms=2000, limit=10, lease_ms=60_000)
    assert [(s.notification.id, s.attempts) for s in claimed] == [("due", 2)]
    assert await queue.next_due_ms() == 5000


async def test_scheduling_the_same_push_twice_keeps_one_retry(redis: redis_async.Redis, keys: Keys) -> None:
    queue = retry_queue(redis, keys)
    await schedule(redis, queue, send("n1"), 1000)
    await schedule(redis, queue, send("n1"), 3000)
    assert await redis.zcard(keys.push_retry_schedule) == 1
    assert await queue.next_due_ms() == 3000


async def test_completed_retry_is_gone(redis: redis_async.Redis, keys: Keys) -> None:
    queue = retry_queue(redis, keys)
    item = send("n1")
    await schedule(redis, queue, item, 1000)
    pipe = redis.pipeline(transaction=True)
    queue_complete(pipe, queue, item)
    await pipe.execute()
    assert await claim_due(queue, now_ms=2000, limit=10, lease_ms=1) == []
    assert await redis.hlen(keys.push_retry_items) == 0


async def test_unreadable_retry_is_dropped_not_claimed_forever(redis: redis_async.Redis, keys: Keys) -> None:
    queue = retry_queue(redis, keys)
    await schedule(redis, queue, send("good"), 1000)
    await redis.hset(keys.push_retry_items, "bad", b"not json")
    await redis.zadd(keys.push_retry_schedule, {"bad": 1000})
    claimed = await claim_due(queue, now_ms=2000, limit=10, lease_ms=1)
    assert [s.notification.id for s in claimed] == ["good"]
    assert await queue.held(["bad"]) == [False]
    assert await redis.zscore(keys.push_retry_schedule, "bad") is None


async def test_sends_already_scheduled_are_split_off(redis: redis_async.Redis, keys: Keys) -> None:
    queue = retry_queue(redis, keys)
    await schedule(redis, queue, send("n1"), 1000)
    fresh, scheduled = await split_scheduled(queue, [send("n1"), send("n2")])
    assert ([s.notification.id for s in fresh], [s.notification.id for s in scheduled]) == (["n2"], ["n1"])
