"""Presence writes of connections arriving together go out together, each written once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as redis_async
from gateway.presence_writer import PresenceWrites
from notify_common.keys import Keys
from redis.exceptions import ResponseError


async def test_concurrent_connects_each_count_once_in_presence_and_roles(
    redis: redis_async.Redis, keys: Keys
) -> None:
    owner: set[asyncio.Task[Any]] = set()
    writes = PresenceWrites(redis, keys, "gw-a", owner)
    users = [(f"u{i % 40}", ("driver",) if i % 2 == 0 else ("rider",)) for i in range(80)]
    await asyncio.gather(*(writes.connected(user, roles) for user, roles in users))
    assert not owner  # the flushing task ended with the queue
    assert await redis.hget(keys.user_presence("u0"), "gw-a") == b"2"
    assert await redis.get(keys.user_connections("u0")) == b"2"
    node_users = await redis.hgetall(keys.node_users("gw-a"))
    assert len(node_users) == 40 and set(node_users.values()) == {b"2"}
    roles = await redis.hgetall(keys.online_by_role)
    assert roles == {b"driver": b"20", b"rider": b"20"}


async def test_a_failed_batch_fails_every_connect_in_it(redis: redis_async.Redis, keys: Keys) -> None:
    await redis.set(keys.node_users("gw-a"), "not a hash")
    writes = PresenceWrites(redis, keys, "gw-a", set())
    outcomes = await asyncio.gather(
        *(writes.connected(f"u{i}", ()) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ResponseError) for o in outcomes), outcomes
    await redis.delete(keys.node_users("gw-a"))
    await writes.connected("u9", ())  # the next batch is written normally
    assert await redis.hget(keys.node_users("gw-a"), "u9") == b"1"


@pytest.mark.parametrize("waiters", [1, 3])
async def test_connects_queued_while_a_batch_is_written_go_in_the_next_one(
    redis: redis_async.Redis, keys: Keys, waiters: int
) -> None:
    writes = PresenceWrites(redis, keys, "gw-a", set())
    first = asyncio.create_task(writes.connected("u-first", ()))
    await asyncio.sleep(0)  # the first batch is being written
    later = [asyncio.create_task(writes.connected(f"u{i}", ())) for i in range(waiters)]
    await asyncio.gather(first, *later)
    assert await redis.hlen(keys.node_users("gw-a")) == waiters + 1
