"""Presence writes for this node: connection counts per user and node, online users per role,
the node's heartbeat, and the cleanup of nodes that died without saying goodbye.

A user's keys share the `{u:<id>}` hash tag, so the scripts below touch one slot each. The
per-user total (`user_connections`) moves the role counts exactly once per 0 -> 1 and 1 -> 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import redis.asyncio as redis_async
import structlog
from notify_common.keys import Keys
from notify_common.presence import now_ms

log = structlog.get_logger("gateway.presence")

# KEYS: user_presence, user_connections; ARGV: node. Returns the user's total connections.
_CONNECT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return redis.call('INCR', KEYS[2])
"""

# Returns the user's remaining total, or -1 if the node's entry was already gone (cleaned up).
_DISCONNECT = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n < 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return -1 end
if n == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
"""

# Re-announce: a node adds all its connections of one user at once. Returns the user's total.
_ANNOUNCE = """
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
return redis.call('INCRBY', KEYS[2], ARGV[2])
"""

ANNOUNCE_CHUNK = 500
"""Users re-announced per round trip: a node of 50,000 sockets writes in 100 pipelines, not one
reply of 150,000 entries that would hold Redis for everyone else."""

# Drop a whole node's entry for one user. Returns the remaining total, or -1 if already gone.
_DROP_NODE = """
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
local left = redis.call('DECRBY', KEYS[2], tonumber(c))
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
"""


async def connected(
    client: redis_async.Redis, keys: Keys, node_id: str, user_id: str, roles: tuple[str, ...]
) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.eval(_CONNECT, 2, keys.user_presence(user_id), keys.user_connections(user_id), node_id)
    pipe.hincrby(keys.node_users(node_id), user_id, 1)
    pipe.hset(keys.node_user_roles(node_id), user_id, json.dumps(list(roles)))
    total, _, _ = await pipe.execute()
    if int(total) == 1 and roles:
        await _count_roles(client, keys, roles, 1)


async def disconnected(
    client: redis_async.Redis, keys: Keys, node_id: str, user_id: str, roles: tuple[str, ...]
) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.eval(_DISCONNECT, 2, keys.user_presence(user_id), keys.user_connections(user_id), node_id)
    pipe.hincrby(keys.node_users(node_id), user_id, -1)
    left, on_node = await pipe.execute()
    pipe = client.pipeline(transaction=False)
    if int(on_node) <= 0:
        pipe.hdel(keys.node_users(node_id), user_id)
        pipe.hdel(keys.node_user_roles(node_id), user_id)
    if int(left) == 0:
        for role in roles:
            pipe.hincrby(keys.online_by_role, role, -1)
    if len(pipe):
        await pipe.execute()


async def _count_roles(client: redis_async.Redis, keys: Keys, roles: tuple[str, ...], step: int) -> None:
    pipe = client.pipeline(transaction=False)
    for role in roles:
        pipe.hincrby(keys.online_by_role, role, step)
    await pipe.execute()


async def heartbeat(client: redis_async.Redis, keys: Keys, node_id: str) -> bool:
    """Mark this node alive now (the live-nodes score is the last heartbeat, unix ms).

    Returns whether Redis still held this node's marker from the previous heartbeat: False
    means its presence is gone (Redis restarted empty, failed over to a replica that had not
    caught up, or a survivor cleaned this node up as dead) and must be announced again. The
    first heartbeat of a process returns False too.
    """
    pipe = client.pipeline(transaction=False)
    pipe.zadd(keys.live_nodes, {node_id: now_ms()})
    pipe.set(keys.node_alive(node_id), b"1", get=True)
    _, previous = await pipe.execute()
    return previous is not None


async def announce(
    client: redis_async.Redis, keys: Keys, node_id: str, users: Mapping[str, tuple[int, tuple[str, ...]]]
) -> None:
    """Write the presence of every user this node holds: user -> (connections, roles).

    Counts are added, as `connected` adds them, so connections opening meanwhile stay counted.
    """
    items = list(users.items())
    for start in range(0, len(items), ANNOUNCE_CHUNK):
        chunk = items[start : start + ANNOUNCE_CHUNK]
        pipe = client.pipeline(transaction=False)
        for user_id, (count, roles) in chunk:
            presence, connections = keys.user_presence(user_id), keys.user_connections(user_id)
            pipe.eval(_ANNOUNCE, 2, presence, connections, node_id, count)
            pipe.hincrby(keys.node_users(node_id), user_id, count)
            pipe.hset(keys.node_user_roles(node_id), user_id, json.dumps(list(roles)))
        replies = await pipe.execute()
        pipe = client.pipeline(transaction=False)
        for (_, (count, roles)), total in zip(chunk, replies[::3], strict=True):
            if int(total) == count:  # the user was offline everywhere until now
                for role in roles:
                    pipe.hincrby(keys.online_by_role, role, 1)
        if len(pipe):
            await pipe.execute()


async def remove_node(client: redis_async.Redis, keys: Keys, node_id: str) -> int:
    """Remove every presence entry of a node (graceful leave, or a dead node); returns users."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.node_users(node_id))
    pipe.hgetall(keys.node_user_roles(node_id))
    users, roles_by_user = await pipe.execute()
    pipe = client.pipeline(transaction=False)
    user_ids = [u.decode() for u in users]
    for user_id in user_ids:
        pipe.eval(_DROP_NODE, 2, keys.user_presence(user_id), keys.user_connections(user_id), node_id)
    results = await pipe.execute() if user_ids else []
    pipe = client.pipeline(transaction=False)
    for user_id, left in zip(user_ids, results, strict=True):
        if int(left) == 0:
            for role in json.loads(roles_by_user.get(user_id.encode(), b"[]")):
                pipe.hincrby(keys.online_by_role, role, -1)
    pipe.delete(keys.node_users(node_id), keys.node_user_roles(node_id), keys.node_alive(node_id))
    pipe.zrem(keys.live_nodes, node_id)
    await pipe.execute()
    return len(user_ids)


async def sweep_dead_nodes(
    client: redis_async.Redis, keys: Keys, node_id: str, node_ttl_ms: int
) -> list[str]:
    """Clean up nodes whose heartbeat is older than `node_ttl_ms`; one sweeper per dead node."""
    dead = [
        n.decode() for n in await client.zrangebyscore(keys.live_nodes, "-inf", f"({now_ms() - node_ttl_ms}")
    ]
    cleaned = []
    for node in dead:
        if node == node_id:
            continue
        # A lease so that survivors do not clean the same node twice at once.
        if not await client.set(keys.lease(f"sweep:{node}"), node_id, nx=True, px=node_ttl_ms):
            continue
        users = await remove_node(client, keys, node)
        log.warning("dead_node_cleaned", dead_node=node, users=users)
        cleaned.append(node)
    return cleaned
