"""Presence reads: which live gateway nodes hold a user's connections, in one round trip.

Every reader applies the same rule (`live_connections`): a node counts when its entry is above 0
and the node is live (liveness.py). The router reads presence inside its one-call-per-user script
(`READ_RECIPIENT`, built by `recipient_read`); the others read the hashes directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio as redis_async

from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.presence.in_flight import RoutingMark
from notify_common.presence.liveness import DEFAULT_NODE_TTL_MS
from notify_common.presence.scripts import READ_RECIPIENT


def live_connections(by_node: Iterable[tuple[bytes, bytes]], alive: set[str]) -> dict[str, int]:
    """{node: connections} from a user's presence hash, keeping live nodes with connections."""
    found: dict[str, int] = {}
    for raw_node, raw_count in by_node:
        node, count = raw_node.decode(), int(raw_count)
        if count > 0 and node in alive:
            found[node] = count
    return found


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
        nodes = live_connections(by_node.items(), alive)
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
    return live_connections(by_node.items(), {m.decode() for m in members})


async def online_by_role(client: redis_async.Redis, keys: Keys) -> dict[str, int]:
    """role -> distinct online users holding it, from one hash (no scan)."""
    counts = await client.hgetall(keys.online_by_role)
    return {r.decode(): int(c) for r, c in counts.items() if int(c) > 0}


def recipient_read(
    keys: Keys, user_id: str, counted: int, window_s: int, mark: RoutingMark
) -> tuple[str | int, ...]:
    """The EVALSHA of `READ_RECIPIENT` for one user, adding `counted` to their rate counter and
    leaving `mark` (the caller removes it after the user's writes: `in_flight.release_command`);
    the caller loads the script and sends again on a NOSCRIPT reply (see `recipient_from`)."""
    return (
        "EVALSHA",
        READ_RECIPIENT.sha,
        4,
        keys.user_presence(user_id),
        keys.preferences(user_id),
        keys.rate(user_id),
        keys.routing_marks(user_id),
        counted,
        window_s,
        mark.token,
        mark.deadline_ms,
        mark.ttl_ms,
    )


def recipient_from(reply: Sequence[Any], alive: set[str]) -> tuple[dict[str, int], list[bytes], int]:
    """(live {node: connections}, the preferences hash as a flat list, rate count) of one reply
    to `recipient_read`."""
    presence, prefs, count = reply
    return live_connections(zip(presence[::2], presence[1::2], strict=True), alive), prefs, int(count)
