"""A fleet with STREAM_SHARDS=4: every shard is read by every service, each user's order is
kept, a killed router replica's pending entries are claimed shard by shard, and dead letters of
any shard are listed and replayed to their shard by notifyctl."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import redis.asyncio as redis_async
from devstack.fleet import DEV_SERVICE_TOKEN, Fleet
from devstack.redis_server import RedisServer
from devstack.redis_topologies import RedisClusterGroup, SentinelGroup
from devstack.router_replicas import (
    BATCH,
    FAKE_NODE,
    event_id,
    publish_unicast,
    router_group_done,
    router_replica,
)
from notify_common.keys import GROUP_HISTORY, GROUP_PUSH, GROUP_ROUTER, Keys
from notify_common.redis_conn import connect
from notify_common.schemas import FIELD_EVENT, DeadLetter, decode_delivery
from notify_common.shards import shard_index

pytestmark = pytest.mark.e2e
SHARDS = 4
AnyRedis = RedisServer | RedisClusterGroup | SentinelGroup


@pytest.fixture(scope="module")
def fleet(fleet_redis: AnyRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The e2e Redis (E2E_REDIS: one server, a cluster or Sentinel) with 4 shards."""
    running = Fleet(
        fleet_redis.url,
        tmp_path_factory.mktemp("sharded"),
        gateways=1,
        stream_shards=SHARDS,
        service_env={"router": {"RATE_LIMIT_PER_USER": "0"}},
    ).start()
    try:
        yield running
    finally:
        statuses = running.stop()
        assert all(code == 0 for code in statuses.values()), statuses


def notifyctl(fleet: Fleet, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "REDIS_URL": fleet.redis_url,
        "KEY_PREFIX": fleet.key_prefix,
        "STREAM_SHARDS": str(fleet.stream_shards),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "notifyctl", *argv], env=env, capture_output=True, text=True, timeout=30
    )


async def feed_ids(client: redis_async.Redis, keys: Keys, user_id: str) -> list[str]:
    return [json.loads(f[b"n"])["id"] for _, f in await client.xrange(keys.user_feed(user_id))]


async def test_every_shard_is_routed_stored_and_pushed_in_each_users_order(fleet: Fleet) -> None:
    keys = fleet.keys
    users = [f"ord-{i}" for i in range(12)]
    per_user = 15
    # interleaved: event n of every user, then event n + 1 of every user
    events = [
        {"id": f"{u}-{n:02d}", "type": "shard.test", "audience": {"kind": "users", "ids": [u]}}
        for n in range(per_user)
        for u in users
    ]
    headers = {"Authorization": f"Bearer {DEV_SERVICE_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        for start in range(0, len(events), 30):
            body = {"events": events[start : start + 30]}
            async with http.post(f"{fleet.router_url()}/v1/events/batch", json=body, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
    client = connect(fleet.redis_url)
    try:
        assert {shard_index(u, SHARDS) for u in users} == set(range(SHARDS))
        for stream in keys.ingress_shards:
            assert int((await client.xinfo_stream(stream))["entries-added"]) > 0, stream
        deadline = time.monotonic() + 30
        for user in users:
            while len(found := await feed_ids(client, keys, user)) < per_user:
                assert time.monotonic() < deadline, (user, found)
                await asyncio.sleep(0.1)
            assert found == [f"{user}-{n:02d}" for n in range(per_user)]
        wanted = {
            *{(s, GROUP_ROUTER) for s in keys.ingress_shards},
            *{(s, GROUP_HISTORY) for s in keys.ingress_shards},
            *{(s, GROUP_PUSH) for s in keys.push_shards},
            *{(s, GROUP_HISTORY) for s in keys.receipt_shards},
        }
        deadline = time.monotonic() + 30
        while True:
            result = notifyctl(fleet, "lag", "--json")
            assert result.returncode == 0, result.stderr
            report = {s["stream"]: s for s in json.loads(result.stdout)}
            done = {
                (stream, g["group"])
                for stream, s in report.items()
                for g in s["groups"]
                if g["lag"] == 0 and g["pending"] == 0
            }
            if wanted <= done:
                break
            assert time.monotonic() < deadline, (wanted - done, report)
            await asyncio.sleep(0.2)
        for stream in keys.push_shards:  # offline users: a push job each, on their user's shard
            assert int((await client.xinfo_stream(stream))["entries-added"]) > 0, stream
    finally:
        await client.aclose()


async def test_dead_letter_of_a_shard_is_listed_and_replayed_to_that_shard(fleet: Fleet) -> None:
    keys = fleet.keys
    user = next(f"dl-{i}" for i in range(100) if shard_index(f"dl-{i}", SHARDS) == 2)
    shard = keys.ingress_for(user)
    assert shard == keys.ingress_shards[2]
    client = connect(fleet.redis_url)
    try:
        bad_id = (await client.xadd(shard, {FIELD_EVENT: b'{"type": 5}'})).decode()
        deadline = time.monotonic() + 20
        while not (dead := await client.xrange(keys.dead_letters)):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        meta = msgspec.json.decode(dead[0][1][b"meta"], type=DeadLetter)
        assert (meta.source_stream, meta.source_id) == (shard, bad_id)
        listed = notifyctl(fleet, "dead", "list")
        assert listed.returncode == 0, listed.stderr
        assert f"{shard} {bad_id}" in listed.stdout

        event = json.dumps({"id": "dl-replayed", "type": "t", "audience": {"kind": "users", "ids": [user]}})
        meta = DeadLetter(
            source_stream=shard,
            source_id="1-0",
            group=GROUP_ROUTER,
            consumer="router",
            reason="dead-lettered by the test",
            deliveries=5,
            at_ms=0,
        )
        fields = {b"meta": msgspec.json.encode(meta), b"o:event": event.encode()}
        dead_id = (await client.xadd(keys.dead_letters, fields)).decode()  # type: ignore[arg-type]
        replayed = notifyctl(fleet, "dead", "replay", dead_id)
        assert replayed.returncode == 0, replayed.stderr
        replays = [f for _, f in await client.xrange(shard) if f.get(b"replay_of") == dead_id.encode()]
        assert len(replays) == 1
        deadline = time.monotonic() + 20
        while "dl-replayed" not in await feed_ids(client, keys, user):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


EVENTS = 2000
USERS = 40


async def test_killed_router_replicas_pending_entries_are_claimed_on_every_shard(
    fleet_redis: AnyRedis, tmp_path: Path
) -> None:
    keys = Keys("rk", SHARDS)
    client = connect(fleet_redis.url)
    await publish_unicast(client, keys, USERS, EVENTS)

    doomed = router_replica("router-a", fleet_redis.url, keys, tmp_path)
    survivor = router_replica("router-b", fleet_redis.url, keys, tmp_path)
    try:
        doomed.start()
        survivor.start()
        deadline = time.monotonic() + 30
        while await client.xlen(keys.node_deliveries(FAKE_NODE)) < EVENTS // 10:
            assert time.monotonic() < deadline, doomed.tail()
            await asyncio.sleep(0.01)
        doomed.signal(signal.SIGKILL)
        deadline = time.monotonic() + 45
        while not await router_group_done(client, keys, EVENTS):
            assert time.monotonic() < deadline, survivor.tail()
            await asyncio.sleep(0.1)
        entries = await client.xrange(keys.node_deliveries(FAKE_NODE))
    finally:
        doomed.kill()
        survivor.stop()
        await client.aclose()
    delivered = [decode_delivery(fields) for _, fields in entries]
    ids = [d.notification.id for d in delivered]
    assert set(ids) == {event_id(i) for i in range(EVENTS)}
    assert len(ids) - EVENTS <= BATCH * SHARDS  # at most one batch in flight per shard, each with its id
