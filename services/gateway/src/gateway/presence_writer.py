"""Presence writes for this node: connection counts per user and node, online users per role,
the node's heartbeat, and the cleanup of nodes that died without saying goodbye.

A user's keys share the `{u:<id>}` hash tag, so the scripts below touch one slot each. The
per-user total (`user_connections`) moves the role counts exactly once per 0 -> 1 and 1 -> 0.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

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
    await write_connects(client, keys, node_id, [(user_id, roles)])


async def write_connects(
    client: redis_async.Redis, keys: Keys, node_id: str, connects: list[tuple[str, tuple[str, ...]]]
) -> None:
    """Presence of new connections: one round trip, and one more if any moved a role count."""
    pipe = client.pipeline(transaction=False)
    for user_id, roles in connects:
        pipe.eval(_CONNECT, 2, keys.user_presence(user_id), keys.user_connections(user_id), node_id)
        pipe.hincrby(keys.node_users(node_id), user_id, 1)
        pipe.hset(keys.node_user_roles(node_id), user_id, json.dumps(list(roles)))
    replies = await pipe.execute()
    online: Counter[str] = Counter()
    for (_, roles), total in zip(connects, replies[::3], strict=True):
        if int(total) == 1:
            online.update(roles)
    if online:
        pipe = client.pipeline(transaction=False)
        for role, count in online.items():
            pipe.hincrby(keys.online_by_role, role, count)
        await pipe.execute()


class ConnectWrites:
    """Presence writes of connections arriving together, sent together (group commit).

    While one batch is being written, connections arriving meanwhile queue up; the next batch
    takes them all. Idle, a connect is written at once; in a reconnect storm a few round trips
    carry hundreds of connects instead of one or two round trips each. The flushing task is
    the node's (`owner`, cancelled at shutdown) and ends when the queue is empty.
    """

    def __init__(
        self, client: redis_async.Redis, keys: Keys, node_id: str, owner: set[asyncio.Task[Any]]
    ) -> None:
        self._client = client
        self._keys = keys
        self._node_id = node_id
        self._owner = owner
        self._queue: list[tuple[str, tuple[str, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def connected(self, user_id: str, roles: tuple[str, ...]) -> None:
        """Returns once this connection's presence is written (raises what the write raised)."""
        written = asyncio.get_running_loop().create_future()
        self._queue.append((user_id, roles, written))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
            self._owner.add(self._flusher)
            self._flusher.add_done_callback(self._owner.discard)
        await written

    async def _flush(self) -> None:
        batch: list[tuple[str, tuple[str, ...], asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    await write_connects(
                        self._client, self._keys, self._node_id, [(u, r) for u, r, _ in batch]
                    )
                except Exception as exc:  # each waiter raises it, as its own write would have
                    for _, _, written in batch:
                        if not written.done():
                            written.set_exception(exc)
                else:
                    for _, _, written in batch:
                        if not written.done():
                            written.set_result(None)
                batch = []
        finally:
            self._flusher = None
            for _, _, written in batch + self._queue:  # cancelled at shutdown: nobody waits long
                written.cancel()
            self._queue = []


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


async def heartbeat(client: redis_async.Redis, keys: Keys, node_id: str) -> None:
    """Mark this node alive now (the live-nodes score is the last heartbeat, unix ms)."""
    await client.zadd(keys.live_nodes, {node_id: now_ms()})


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
    pipe.delete(keys.node_users(node_id), keys.node_user_roles(node_id))
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
