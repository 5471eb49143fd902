"""Router replicas share the ingress group; one SIGKILLed mid-stream loses nothing."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as redis_async
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from devstack.redis_server import RedisServer, start_redis
from notify_common.clock import now_ms
from notify_common.keys import GROUP_ROUTER, Keys
from notify_common.schemas import FIELD_EVENT, decode_delivery

pytestmark = pytest.mark.e2e

EVENTS = 3000
NODE = "fake-node"


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


def replica(name: str, redis_url: str, workdir: Path) -> ServiceProcess:
    env = {
        "REDIS_URL": redis_url,
        "NODE_ID": name,
        "OPS_PORT": str(free_port()),
        "HTTP_PORT": str(free_port()),
        "CONSUMER_BATCH": "50",
        "CLAIM_IDLE_MS": "1000",
        "RATE_LIMIT_PER_USER": "0",
        "JWT_SECRET": "router-replica-test-secret-0123",
        "LOG_FORMAT": "console",
    }
    return ServiceProcess(name, "router", env, int(env["OPS_PORT"]), workdir / f"{name}.log")


async def delivered_ids(client: redis_async.Redis, keys: Keys) -> Counter[str]:
    entries = await client.xrange(keys.node_deliveries(NODE))
    return Counter(decode_delivery(fields).notification.id for _, fields in entries)


async def group_done(client: redis_async.Redis, keys: Keys) -> bool:
    for group in await client.xinfo_groups(keys.ingress):
        if group["name"].decode() == GROUP_ROUTER:
            return int(group["pending"]) == 0 and int(group.get("entries-read") or 0) >= EVENTS
    return False


async def test_replica_killed_mid_stream_loses_nothing_and_duplicates_keep_their_id(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    keys = Keys("nf")
    client = redis_async.Redis.from_url(own_redis.url)
    await client.zadd(keys.live_nodes, {NODE: now_ms() + 600_000})
    pipe = client.pipeline(transaction=False)
    for i in range(100):
        pipe.hset(keys.user_presence(f"u{i}"), NODE, 1)
    for i in range(EVENTS):
        event = {"id": f"k{i}", "type": "t", "audience": {"kind": "users", "ids": [f"u{i % 100}"]}}
        pipe.xadd(keys.ingress, {FIELD_EVENT: msgspec.json.encode(event)})
    await pipe.execute()

    doomed = replica("router-a", own_redis.url, tmp_path)
    survivor = replica("router-b", own_redis.url, tmp_path)
    try:
        doomed.start()
        survivor.start()
        deadline = time.monotonic() + 30
        while sum((await delivered_ids(client, keys)).values()) < EVENTS // 10:
            assert time.monotonic() < deadline, doomed.tail()
            await asyncio.sleep(0.01)
        doomed.signal(signal.SIGKILL)
        deadline = time.monotonic() + 45
        while not await group_done(client, keys):
            assert time.monotonic() < deadline, survivor.tail()
            await asyncio.sleep(0.1)
        delivered = await delivered_ids(client, keys)
    finally:
        doomed.kill()
        survivor.stop()
        await client.aclose()
    assert set(delivered) == {f"k{i}" for i in range(EVENTS)}
    duplicates = sum(delivered.values()) - EVENTS
    assert duplicates <= 50  # at most the killed replica's batch in flight, each with its id
