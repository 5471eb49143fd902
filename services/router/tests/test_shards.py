"""With STREAM_SHARDS=4 the router writes push jobs and receipts to the shard of their user."""

from __future__ import annotations

import msgspec
import redis.asyncio as redis_async
from notify_common.consumer import Entry
from notify_common.keys import Keys
from notify_common.schemas import FIELD_EVENT, decode_push_job, decode_receipt
from router.config import RouterConfig
from router.routing import Router


async def test_push_jobs_and_receipts_go_to_the_users_shard(redis: redis_async.Redis, keys: Keys) -> None:
    sharded = Keys(keys.prefix, 4)
    cfg = RouterConfig(key_prefix=keys.prefix, node_id="router-test", stream_shards=4, rate_limit_per_user=1)
    router = Router(redis, sharded, cfg)
    entries = []
    for i, user in enumerate(["alice", "alice", "u1"]):  # shards 3, 3, 2; alice's second is rate limited
        event = msgspec.json.encode(
            {"id": f"e{i}", "type": "t", "audience": {"kind": "users", "ids": [user]}}
        )
        entry_id = await redis.xadd(sharded.ingress_for(user), {FIELD_EVENT: event})
        entries.append(Entry(entry_id.decode(), {FIELD_EVENT: event}))
    try:
        outcome = await router.handle(entries)
        assert outcome.effects
        await router.line.transaction(outcome.effects)
    finally:
        await router.aclose()
    jobs = {s: [decode_push_job(f).user_ids for _, f in await redis.xrange(s)] for s in sharded.push_shards}
    assert jobs == {
        sharded.push_shards[0]: [],
        sharded.push_shards[1]: [],
        sharded.push_shards[2]: [["u1"]],
        sharded.push_shards[3]: [["alice"]],
    }
    receipts = {s: [decode_receipt(f).kind for _, f in await redis.xrange(s)] for s in sharded.receipt_shards}
    assert receipts[sharded.receipts_for("alice")] == ["dropped"]
    assert sum(len(kinds) for kinds in receipts.values()) == 1
