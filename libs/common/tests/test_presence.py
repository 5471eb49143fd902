"""The presence contract, both sides: what the writer stores is what every reader answers."""

from __future__ import annotations

import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.presence import (
    connections_by_node,
    heartbeat,
    live_nodes,
    mark_alive,
    online_by_role,
    recipient_from,
    recipient_read,
    reconcile,
    remove_node,
    sweep_dead_nodes,
    user_presence,
    write_changes,
)
from notify_common.presence.in_flight import routing_mark
from notify_common.presence.scripts import READ_RECIPIENT

TTL_MS = 15_000


async def router_view(client: redis_async.Redis, keys: Keys, user_id: str) -> dict[str, int]:
    """The router's read of one user (its one-call-per-user script)."""
    await READ_RECIPIENT.load(client)
    alive = await live_nodes(client, keys, TTL_MS)
    nodes, _, _ = recipient_from(
        await client.execute_command(*recipient_read(keys, user_id, 0, 60, routing_mark("t", 1.0))), alive
    )
    return nodes


async def test_written_connections_are_read_alike_by_every_reader(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await mark_alive(redis, keys, "gw-a")
    await mark_alive(redis, keys, "gw-b")
    await write_changes(redis, keys, "gw-a", [(1, "u1", ("driver",)), (1, "u1", ("driver",))])
    await write_changes(redis, keys, "gw-b", [(1, "u1", ("driver",)), (1, "u2", ("rider",))])
    await write_changes(redis, keys, "gw-b", [(-1, "u2", ("rider",))])
    expected = {"gw-a": 2, "gw-b": 1}
    assert await user_presence(redis, keys, "u1", TTL_MS) == expected
    assert await router_view(redis, keys, "u1") == expected
    alive = await live_nodes(redis, keys, TTL_MS)
    assert await connections_by_node(redis, keys, ["u1", "u2"], alive) == {"u1": expected}
    assert await online_by_role(redis, keys) == {"driver": 1}


async def test_a_silent_node_is_ignored_by_every_reader_then_swept(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await mark_alive(redis, keys, "gw-live")
    await write_changes(redis, keys, "gw-live", [(1, "u1", ("driver",))])
    await write_changes(redis, keys, "gw-dead", [(1, "u1", ("driver",)), (1, "u2", ("driver",))])
    await redis.zadd(keys.live_nodes, {"gw-dead": 1})  # last heartbeat long ago
    assert await user_presence(redis, keys, "u1", TTL_MS) == {"gw-live": 1}
    assert await router_view(redis, keys, "u2") == {}
    assert await sweep_dead_nodes(redis, keys, "gw-live", TTL_MS) == ["gw-dead"]
    assert await redis.hgetall(keys.user_presence("u1")) == {b"gw-live": b"1"}
    assert await online_by_role(redis, keys) == {"driver": 1}
    assert not await heartbeat(redis, keys, "gw-dead", TTL_MS)


async def test_heartbeat_refreshes_only_a_node_whose_presence_redis_still_holds(
    redis: redis_async.Redis, keys: Keys
) -> None:
    assert not await heartbeat(redis, keys, "gw-a", TTL_MS)  # never announced
    await mark_alive(redis, keys, "gw-a")
    assert await heartbeat(redis, keys, "gw-a", TTL_MS)
    await remove_node(redis, keys, "gw-a")
    assert not await heartbeat(redis, keys, "gw-a", TTL_MS)


async def test_writes_are_exact_after_redis_loses_its_script_cache(
    redis: redis_async.Redis, keys: Keys
) -> None:
    await mark_alive(redis, keys, "gw-a")
    await write_changes(redis, keys, "gw-a", [(1, "u1", ("driver",))])
    await redis.script_flush()  # as after a restart: the next calls meet NOSCRIPT
    await write_changes(redis, keys, "gw-a", [(1, "u1", ("driver",)), (1, "u2", ("rider",)), (-1, "u1", ())])
    assert await user_presence(redis, keys, "u1", TTL_MS) == {"gw-a": 1}
    assert await redis.hgetall(keys.node_users("gw-a")) == {b"u1": b"1", b"u2": b"1"}
    assert await online_by_role(redis, keys) == {"driver": 1, "rider": 1}
    await redis.script_flush()
    assert await reconcile(redis, keys, "gw-a", {"u1": (3, ("driver",))}) == 2
    assert await user_presence(redis, keys, "u1", TTL_MS) == {"gw-a": 3}
    assert await user_presence(redis, keys, "u2", TTL_MS) == {}
    assert await online_by_role(redis, keys) == {"driver": 1}
    await redis.script_flush()
    assert await remove_node(redis, keys, "gw-a") == 1
    assert await online_by_role(redis, keys) == {}
