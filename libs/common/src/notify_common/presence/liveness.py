"""Which gateway nodes are alive: `live_nodes` scores each node with its last heartbeat (unix ms).

A node that stops heartbeating (SIGKILL) drops out of every presence answer as soon as its score
is older than NODE_TTL_MS, before any cleanup has removed its entries (see writer.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis_async

from notify_common.clock import now_ms
from notify_common.keys import Keys

DEFAULT_NODE_TTL_MS = 15_000
"""NODE_TTL_MS unless set (CommonConfig.node_ttl_ms): gateways and routers read the same value."""


async def mark_alive(client: redis_async.Redis, keys: Keys, node_id: str) -> None:
    """Announce a gateway node live now, with the marker its heartbeats check."""
    pipe = client.pipeline(transaction=False)
    pipe.zadd(keys.live_nodes, {node_id: now_ms()})
    pipe.set(keys.node_alive(node_id), b"1")
    await pipe.execute()


async def heartbeat(client: redis_async.Redis, keys: Keys, node_id: str, node_ttl_ms: int) -> bool:
    """Refresh a node's liveness if Redis still holds its presence; False, with nothing written,
    when it does not: Redis restarted empty or failed over to a replica behind (the marker is
    gone), a survivor cleaned the node up, or the node was silent longer than `node_ttl_ms` and
    routers took it for dead. The caller then holds its sockets, announces them again and calls
    `mark_alive` last, so no router sends the node anything new before the hold (gateway resync)."""
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.node_alive(node_id))
    pipe.zscore(keys.live_nodes, node_id)
    marker, score = await pipe.execute()
    if not marker or score is None or now_ms() - float(score) > node_ttl_ms:
        return False
    await mark_alive(client, keys, node_id)
    return True


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


async def dead_nodes(client: redis_async.Redis, keys: Keys, node_ttl_ms: int) -> list[str]:
    """Gateway nodes whose last heartbeat is older than `node_ttl_ms`."""
    return [
        n.decode() for n in await client.zrangebyscore(keys.live_nodes, "-inf", f"({now_ms() - node_ttl_ms}")
    ]
