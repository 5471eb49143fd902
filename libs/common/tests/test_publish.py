from __future__ import annotations

import pytest
import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.publish import build_event, publish
from notify_common.schemas import BadEntry, decode_event


async def test_published_event_is_a_plain_xadd_that_decodes_back(
    redis: redis_async.Redis, keys: Keys
) -> None:
    event = build_event(
        id="order-1-shipped", type="order.shipped", audience={"kind": "users", "ids": ["42"]}, title="Shipped"
    )
    entry_id = await publish(redis, event, prefix=keys.prefix)
    [(got_id, fields)] = await redis.xrange(keys.ingress)
    assert got_id.decode() == entry_id
    assert list(fields) == [b"event"]
    assert decode_event(fields) == event


def test_build_event_rejects_what_the_router_would() -> None:
    with pytest.raises(BadEntry, match="audience"):
        build_event(type="t", audience={"kind": "nobody"})
