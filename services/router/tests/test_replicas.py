"""Router replicas share the ingress group; one SIGKILLed mid-stream loses nothing."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_async
from devstack.redis_server import RedisServer, start_redis
from devstack.router_replicas import (
    BATCH,
    FAKE_NODE,
    event_id,
    publish_unicast,
    router_group_done,
    router_replica,
)
from notify_common.keys import Keys
from notify_common.schemas import decode_delivery

pytestmark = pytest.mark.e2e

EVENTS = 3000
USERS = 100


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


async def delivered_ids(client: redis_async.Redis, keys: Keys) -> Counter[str]:
    entries = await client.xrange(keys.node_deliveries(FAKE_NODE))
    return Counter(decode_delivery(fields).notification.id for _, fields in entries)


async def test_replica_killed_mid_stream_loses_nothing_and_duplicates_keep_their_id(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    keys = Keys("nf")
    client = redis_async.Redis.from_url(own_redis.url)
    await publish_unicast(client, keys, USERS, EVENTS)

    doomed = router_replica("router-a", own_redis.url, keys, tmp_path)
    survivor = router_replica("router-b", own_redis.url, keys, tmp_path)
    try:
        doomed.start()
        survivor.start()
        deadline = time.monotonic() + 30
        while sum((await delivered_ids(client, keys)).values()) < EVENTS // 10:
            assert time.monotonic() < deadline, doomed.tail()
            await asyncio.sleep(0.01)
        doomed.signal(signal.SIGKILL)
        deadline = time.monotonic() + 45
        while not await router_group_done(client, keys, EVENTS):
            assert time.monotonic() < deadline, survivor.tail()
            await asyncio.sleep(0.1)
        delivered = await delivered_ids(client, keys)
    finally:
        doomed.kill()
        survivor.stop()
        await client.aclose()
    assert set(delivered) == {event_id(i) for i in range(EVENTS)}
    duplicates = sum(delivered.values()) - EVENTS
    assert duplicates <= BATCH  # at most the killed replica's batch in flight, each with its id
