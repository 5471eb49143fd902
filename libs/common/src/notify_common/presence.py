"""Presence: which gateway nodes hold a user's connections, readable in one round trip.

Layout (keys.py): `presence:{u:<id>}` is a hash node_id -> connection count; `nodes` is a sorted
set of gateway nodes scored by their last heartbeat. A node that stops heartbeating (SIGKILL)
drops out of every answer as soon as its score is older than `node_ttl_ms`, before any cleanup
has removed its entries; survivors then delete those entries (see the gateway).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis_async

from notify_common.clock import now_ms
from notify_common.keys import Keys

DEFAULT_NODE_TTL_MS = 15_000


async def heartbeat(client: redis_async.Redis, keys: Keys, node_id: str) -> None:
    """Mark a gateway node alive now."""
    await client.zadd(keys.live_nodes, {node_id: now_ms()})


async def live_nodes(
    client: redis_async.Redis, keys: Keys, node_ttl_ms: int = DEFAULT_NODE_TTL_MS
) -> set[str]:
    """Gateway nodes that heartbeated within `node_ttl_ms`."""
    return live_nodes_from(await client.execute_command(*live_nodes_command(keys, node_ttl_ms)))


def live_nodes_command(keys: Keys, node_ttl_ms: int) -> tuple[str | int, ...]:
    """The live-node read, to send with other reads in one round trip; see `live_nodes_from`."""
    return ("ZRANGEBYSCORE", keys.live_nodes, now_ms() - node_ttl_ms, "+inf")


def live_nodes_from(reply: Sequence[bytes]) -> set[str]:
    """The live nodes in the reply to `live_nodes_command`."""
    return {m.decode() for m in reply}


async def connections_by_node(
    client: redis_async.Redis, keys: Keys, user_ids: Sequence[str], alive: set[str]
) -> dict[str, dict[str, int]]:
    """user -> {node: connections} for online users among `user_ids`, on live nodes only.

    One pipelined round trip for any number of users.
    """
    pipe = client.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.hgetall(keys.user_presence(user_id))
    replies = await pipe.execute()
    online: dict[str, dict[str, int]] = {}
    for user_id, by_node in zip(user_ids, replies, strict=True):
        nodes = {n.decode(): int(c) for n, c in by_node.items() if int(c) > 0 and n.decode() in alive}
        if nodes:
            online[user_id] = nodes
    return online


async def user_presence(
    client: redis_async.Redis, keys: Keys, user_id: str, node_ttl_ms: int = DEFAULT_NODE_TTL_MS
) -> dict[str, int]:
    """{node: connections} of one user on live nodes ({} = offline); one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(keys.live_nodes, now_ms() - node_ttl_ms, "+inf")
    pipe.hgetall(keys.user_presence(user_id))
    members, by_node = await pipe.execute()
    alive = {m.decode() for m in members}
    return {n.decode(): int(c) for n, c in by_node.items() if int(c) > 0 and n.decode() in alive}


async def online_by_role(client: redis_async.Redis, keys: Keys) -> dict[str, int]:
    """role -> distinct online users holding it, from one hash (no scan)."""
    counts = await client.hgetall(keys.online_by_role)
    return {r.decode(): int(c) for r, c in counts.items() if int(c) > 0}
