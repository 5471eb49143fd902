"""The node's presence writer: group commit, order, and recovery from failed writes (real Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis_async
from devstack.polling import wait_until
from gateway.presence_writer import PresenceWrites
from notify_common.keys import Keys
from notify_common.presence import online_by_role
from notify_common.redis_conn import connect


async def test_a_storm_of_opens_and_closes_leaves_exact_presence_with_a_tiny_pool(
    redis_url: str, keys: Keys
) -> None:
    client = connect(redis_url, max_connections=2, pool_timeout_s=0.5)
    owner: set[asyncio.Task[Any]] = set()
    writes = PresenceWrites(client, keys, "gw-1", owner)
    users = [f"u{i}" for i in range(1000)]
    await asyncio.gather(*(writes.connected(u, ("driver",)) for u in users))
    assert await online_by_role(client, keys) == {"driver": 1000}
    for u in users[:999]:
        writes.disconnected(u, ("driver",))

    async def one_left() -> bool:
        return await online_by_role(client, keys) == {"driver": 1} and not owner

    await wait_until(one_left)
    assert await client.hgetall(keys.user_presence("u999")) == {b"gw-1": b"1"}
    assert await client.hkeys(keys.node_users("gw-1")) == [b"u999"]
    assert writes.written == {"u999": (1, ("driver",))}
    await client.aclose()


async def test_a_close_queued_right_after_its_open_is_written_after_it(
    rclient: redis_async.Redis, keys: Keys
) -> None:
    owner: set[asyncio.Task[Any]] = set()
    writes = PresenceWrites(rclient, keys, "gw-1", owner)
    opening = asyncio.ensure_future(writes.connected("42", ("admin",)))
    await asyncio.sleep(0)  # the open is queued, its write not sent yet
    writes.disconnected("42", ("admin",))
    await opening

    async def idle() -> bool:
        return not owner

    await wait_until(idle)
    assert await rclient.hgetall(keys.user_presence("42")) == {}
    assert await online_by_role(rclient, keys) == {}
    assert await rclient.exists(keys.user_connections("42"), keys.node_users("gw-1")) == 0


async def test_writes_refused_by_redis_are_rebuilt_from_the_mirror_once_it_accepts_them(
    rclient: redis_async.Redis, keys: Keys
) -> None:
    owner: set[asyncio.Task[Any]] = set()
    writes = PresenceWrites(rclient, keys, "gw-1", owner)
    await writes.connected("a", ("driver",))
    await writes.connected("b", ("driver",))
    await rclient.config_set("maxmemory", "1")  # noeviction: every write refused
    try:
        writes.disconnected("a", ("driver",))
        opening = asyncio.ensure_future(writes.connected("c", ("customer",)))
        await asyncio.wait([opening], timeout=5)
        assert opening.done() and opening.exception() is not None  # the handler closes with 1013
        writes.disconnected("c", ("customer",))  # as the handler's cleanup does
    finally:
        await rclient.config_set("maxmemory", "0")

    async def exact() -> bool:
        return (
            await online_by_role(rclient, keys) == {"driver": 1}
            and await rclient.hgetall(keys.user_presence("b")) == {b"gw-1": b"1"}
            and await rclient.exists(keys.user_presence("a"), keys.user_presence("c")) == 0
            and not owner
        )

    await wait_until(exact, 15)
