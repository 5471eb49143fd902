"""Presence writes for this node: connection counts per user, and the node's heartbeat."""

from __future__ import annotations

import redis.asyncio as redis_async
from notify_common.keys import Keys


async def connected(client: redis_async.Redis, keys: Keys, node_id: str, user_id: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(keys.user_presence(user_id), node_id, 1)
    pipe.hincrby(keys.node_users(node_id), user_id, 1)
    await pipe.execute()


async def disconnected(client: redis_async.Redis, keys: Keys, node_id: str, user_id: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(keys.user_presence(user_id), node_id, -1)
    pipe.hincrby(keys.node_users(node_id), user_id, -1)
    left, _ = await pipe.execute()
    if int(left) <= 0:
        pipe = client.pipeline(transaction=False)
        pipe.hdel(keys.user_presence(user_id), node_id)
        pipe.hdel(keys.node_users(node_id), user_id)
        await pipe.execute()


async def leave(client: redis_async.Redis, keys: Keys, node_id: str) -> None:
    """Remove every presence entry of this node (graceful shutdown, or cleanup of a dead node)."""
    users = await client.hkeys(keys.node_users(node_id))
    pipe = client.pipeline(transaction=False)
    for user in users:
        pipe.hdel(keys.user_presence(user.decode()), node_id)
    pipe.delete(keys.node_users(node_id))
    pipe.zrem(keys.live_nodes, node_id)
    await pipe.execute()
