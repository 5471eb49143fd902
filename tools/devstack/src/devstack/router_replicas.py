"""Router replicas in the shared `router` group on a Redis the caller owns, fed unicast events to
users online on one fake node: the arrange and wait steps of the replica tests (one shard or
several, one Redis or a cluster)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import redis.asyncio as redis_async
from notify_common.clock import now_ms
from notify_common.keys import GROUP_ROUTER, Keys
from notify_common.schemas import FIELD_EVENT

from devstack.ports import free_port
from devstack.procs import ServiceProcess

FAKE_NODE = "fake-node"
BATCH = 50
"""CONSUMER_BATCH of the replicas: a killed one has at most this many entries in flight per shard."""


def router_replica(name: str, redis_url: str, keys: Keys, workdir: Path) -> ServiceProcess:
    """A router process (not started) reading every shard of `keys`; its pending entries are
    claimed by the others after 1 s idle, and no per-user rate limit drops an event."""
    ops_port = free_port()
    env = {
        "REDIS_URL": redis_url,
        "KEY_PREFIX": keys.prefix,
        "STREAM_SHARDS": str(keys.shards),
        "NODE_ID": name,
        "OPS_PORT": str(ops_port),
        "HTTP_PORT": str(free_port()),
        "CONSUMER_BATCH": str(BATCH),
        "CLAIM_IDLE_MS": "1000",
        "RATE_LIMIT_PER_USER": "0",
        "JWT_SECRET": "router-replica-test-secret-0123",
        "LOG_FORMAT": "console",
    }
    return ServiceProcess(name, "router", env, ops_port, workdir / f"{name}.log")


def event_id(i: int) -> str:
    return f"k{i:05d}"


async def publish_unicast(client: redis_async.Redis, keys: Keys, users: int, events: int) -> None:
    """Users u0…u<users-1> online on FAKE_NODE (alive for 10 minutes); event i goes to user
    i % users, in its user's ingress shard."""
    await client.zadd(keys.live_nodes, {FAKE_NODE: now_ms() + 600_000})
    pipe = client.pipeline(transaction=False)
    for i in range(users):
        pipe.hset(keys.user_presence(f"u{i}"), FAKE_NODE, 1)
    for i in range(events):
        user = f"u{i % users}"
        event = {"id": event_id(i), "type": "t", "audience": {"kind": "users", "ids": [user]}}
        pipe.xadd(keys.ingress_for(user), {FIELD_EVENT: msgspec.json.encode(event)})
    await pipe.execute()


async def router_group_done(client: redis_async.Redis, keys: Keys, events: int) -> bool:
    """The router group has read `events` entries over every ingress shard and acked them all."""
    read = 0
    for stream in keys.ingress_shards:
        for group in await client.xinfo_groups(stream):
            if group["name"].decode() == GROUP_ROUTER:
                if int(group["pending"]):
                    return False
                read += int(group.get("entries-read") or 0)
    return read >= events
