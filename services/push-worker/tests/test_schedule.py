from __future__ import annotations

import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.schemas import Notification
from push_worker.schedule import claim_due, next_due_ms, queue_complete, queue_schedule
from push_worker.sends import Send


def send(notification_id: str, token: str = "tok") -> Send:
    note = Notification(id=notification_id, type="t", created_ms=1)
    return Send(notification=note, user_id="u1", token=token, platform="android", attempts=2)


async def schedule(client: redis_async.Redis, keys: Keys, item: Send, due_ms: int) -> None:
    pipe = client.pipeline(transaction=True)
    queue_schedule(pipe, keys, item, due_ms)
    await pipe.execute()


async def test_only_due_retries_are_claimed(redis: redis_async.Redis, keys: Keys) -> None:
    await schedule(redis, keys, send("due"), 1000)
    await schedule(redis, keys, send("later"), 5000)
    claimed = await claim_due(redis, keys, now_ms=2000, limit=10, lease_ms=60_000)
    assert [(s.notification.id, s.attempts) for s in claimed] == [("due", 2)]
    assert await next_due_ms(redis, keys) == 5000


async def test_a_claimed_retry_is_hidden_from_other_replicas(redis: redis_async.Redis, keys: Keys) -> None:
    await schedule(redis, keys, send("n1"), 1000)
    assert len(await claim_due(redis, keys, now_ms=2000, limit=10, lease_ms=60_000)) == 1
    assert await claim_due(redis, keys, now_ms=2001, limit=10, lease_ms=60_000) == []


async def test_a_claim_whose_holder_died_is_due_again_after_the_lease(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await schedule(redis, keys, send("n1"), 1000)
    await claim_due(redis, keys, now_ms=2000, limit=10, lease_ms=60_000)
    again = await claim_due(redis, keys, now_ms=62_000, limit=10, lease_ms=60_000)
    assert [s.notification.id for s in again] == ["n1"]


async def test_scheduling_the_same_push_twice_keeps_one_retry(redis: redis_async.Redis, keys: Keys) -> None:
    await schedule(redis, keys, send("n1"), 1000)
    await schedule(redis, keys, send("n1"), 3000)
    assert await redis.zcard(keys.push_retry_schedule) == 1
    assert await next_due_ms(redis, keys) == 3000


async def test_completed_retry_is_gone(redis: redis_async.Redis, keys: Keys) -> None:
    item = send("n1")
    await schedule(redis, keys, item, 1000)
    pipe = redis.pipeline(transaction=True)
    queue_complete(pipe, keys, item)
    await pipe.execute()
    assert await claim_due(redis, keys, now_ms=2000, limit=10, lease_ms=1) == []
    assert await redis.hlen(keys.push_retry_items) == 0
