"""REDIS_URL naming a Redis Cluster or a Sentinel group, against real throwaway servers."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from devstack.redis_topologies import RedisClusterGroup, SentinelGroup
from notify_common.devices import queue_token_removal, register_device
from notify_common.keys import Keys
from notify_common.presence.writer import write_changes
from notify_common.redis_conn import connect, is_cluster
from notify_common.redis_line import RedisLine
from redis.exceptions import ResponseError

pytestmark = pytest.mark.cluster


async def test_cluster_url_spreads_users_over_every_master(redis_cluster: RedisClusterGroup) -> None:
    client = connect(redis_cluster.url)
    try:
        assert is_cluster(client)
        for n in range(60):
            await client.set(f"t:{{u:{n}}}", n)
        assert [int(await client.get(f"t:{{u:{n}}}")) for n in range(60)] == list(range(60))
    finally:
        await client.aclose()
    holding = []
    for master in redis_cluster.masters():
        with redis.Redis(port=master.port) as node:
            holding.append(node.dbsize())
    assert len(holding) == 3 and all(holding), holding


async def test_line_on_a_cluster_acks_after_the_effects_of_other_slots(
    redis_cluster: RedisClusterGroup,
) -> None:
    client = connect(redis_cluster.url)
    line = RedisLine(client, 5.0)
    try:
        await client.xgroup_create("t:ack:src", "g", id="0", mkstream=True)
        entry = (await client.xadd("t:ack:src", {"f": "v"})).decode()
        read = ("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "t:ack:src", ">")
        assert (await line.pipeline([read]))[-1]
        effects = [("XADD", f"t:ack:out:{n}", "*", "f", "v") for n in range(6)]  # several slots
        replies = await line.pipeline([("MULTI",), *effects, ("XACK", "t:ack:src", "g", entry), ("EXEC",)])
        assert replies[-1][-1] == 1  # acked, after every effect
        assert all([await client.xlen(f"t:ack:out:{n}") for n in range(6)])

        entry = (await client.xadd("t:ack:src", {"f": "w"})).decode()
        assert (await line.pipeline([read]))[-1]
        await client.set("t:ack:not-a-stream", "x")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await line.pipeline(
                [
                    ("MULTI",),
                    ("XADD", "t:ack:not-a-stream", "*", "f", "v"),
                    ("XACK", "t:ack:src", "g", entry),
                    ("EXEC",),
                ]
            )
        assert (await client.xpending("t:ack:src", "g"))["pending"] == 1  # a failed effect: no ack
    finally:
        await line.aclose()
        await client.aclose()


async def test_blocking_read_of_a_line_waits_on_the_stream_of_its_slot(
    redis_cluster: RedisClusterGroup,
) -> None:
    client = connect(redis_cluster.url)
    line = RedisLine(client, 5.0)
    try:
        await client.xgroup_create("t:block:{n:x}", "g", id="$", mkstream=True)
        read = ("XREADGROUP", "GROUP", "g", "c", "COUNT", 1, "BLOCK", 2000, "STREAMS", "t:block:{n:x}", ">")
        waiting = asyncio.create_task(line.pipeline([read]))
        await asyncio.sleep(0.2)  # the read is blocked in Redis before the entry arrives
        await client.xadd("t:block:{n:x}", {"f": "v"})
        assert (await asyncio.wait_for(waiting, 5))[-1]
    finally:
        await line.aclose()
        await client.aclose()


async def test_sentinel_url_follows_the_master_to_the_promoted_replica(redis_sentinel: SentinelGroup) -> None:
    client = connect(redis_sentinel.url)
    line = RedisLine(client, 5.0)
    try:
        await client.set("t:before", "1")
        # replication is asynchronous: this test is about the client following, not about that
        assert await client.execute_command("WAIT", 1, 5000) == 1
        old = redis_sentinel.master()
        old.kill()
        new = await asyncio.to_thread(redis_sentinel.wait_new_master, old)
        deadline = time.monotonic() + 20
        while True:
            try:
                await client.set("t:after", "2")
                await line.call("SET", "t:line", "3")
                break
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        with redis.Redis(port=new.port) as promoted:
            assert promoted.mget("t:before", "t:after", "t:line") == [b"1", b"2", b"3"]
    finally:
        await line.aclose()
        await client.aclose()


async def test_token_removal_runs_in_a_cluster_pipeline(redis_cluster: RedisClusterGroup) -> None:
    client = connect(redis_cluster.url)
    keys = Keys("tdev")
    try:
        await register_device(client, keys, "u1", "tok-1", "android")
        pipe = client.pipeline(transaction=False)
        queue_token_removal(pipe, keys, [("u1", "tok-1")])
        await pipe.execute()
        assert await client.hlen(keys.devices("u1")) == 0
        assert await client.get(keys.device_owner("tok-1")) is None
    finally:
        await client.aclose()


async def test_presence_writes_run_in_a_cluster_pipeline(redis_cluster: RedisClusterGroup) -> None:
    client = connect(redis_cluster.url)
    keys = Keys("tpres")
    try:
        users = [f"user-{n}" for n in range(20)]  # on every master
        await write_changes(client, keys, "gw-1", [(1, u, ("customer",)) for u in users])
        assert [await client.hget(keys.user_presence(u), "gw-1") for u in users] == [b"1"] * 20
    finally:
        await client.aclose()
