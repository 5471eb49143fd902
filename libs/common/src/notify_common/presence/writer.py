"""Presence writes of a gateway node: connection counts per user and node, online users per role,
and the cleanup of nodes that died without saying goodbye (layout in `notify_common.presence`).

Besides each user's keys, a node keeps `node_users` (user -> its connections there) and
`node_user_roles` (user -> roles), so a survivor can remove a dead node's entries and fix the
role counts. The gateway orders the writes of one node (its `PresenceWrites` group commit).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping

import redis.asyncio as redis_async
import structlog
from redis.asyncio.client import Pipeline

from notify_common.keys import Keys
from notify_common.presence.liveness import dead_nodes
from notify_common.presence.scripts import ADJUST, CONNECT, DISCONNECT, DROP_NODE
from notify_common.scripts import ScriptCalls

log = structlog.get_logger("notify_common.presence")

Change = tuple[int, str, tuple[str, ...]]
"""+1 (a connection opened) or -1 (closed), the user, the user's roles."""

RECONCILE_CHUNK = 500
"""Users reconciled per round trip: a node of 50,000 sockets writes in 100 pipelines, not one
reply of 150,000 entries that would hold Redis for everyone else."""


def _count_roles(pipe: Pipeline, keys: Keys, moves: Iterable[tuple[int, int, Iterable[str]]]) -> None:
    """Move the online count of each role of a user whose connections, moved by `step` to
    `total`, went from none to some (+1) or from some to none (-1)."""
    role_steps: Counter[str] = Counter()
    for step, total, roles in moves:
        before = total - step
        if before <= 0 < total:
            role_steps.update(dict.fromkeys(roles, 1))
        elif total <= 0 < before:
            role_steps.update(dict.fromkeys(roles, -1))
    for role, role_step in role_steps.items():
        if role_step:
            pipe.hincrby(keys.online_by_role, role, role_step)


@functools.lru_cache(maxsize=1024)
def _roles_json(roles: tuple[str, ...]) -> str:
    """A user's roles as stored in `node_user_roles`: few distinct role sets, encoded once each."""
    return json.dumps(list(roles))


async def write_changes(client: redis_async.Redis, keys: Keys, node_id: str, changes: list[Change]) -> None:
    """Connections opened and closed, in order: one round trip, one more for role counts."""
    node_users, node_roles = keys.node_users(node_id), keys.node_user_roles(node_id)
    pipe = client.pipeline(transaction=False)
    calls = ScriptCalls(pipe)
    for step, user_id, roles in changes:
        script = CONNECT if step > 0 else DISCONNECT
        calls.add(script, (keys.user_presence(user_id), keys.user_connections(user_id)), (node_id,))
        pipe.hincrby(node_users, user_id, step)
        pipe.hset(node_roles, user_id, _roles_json(roles))
    replies = await calls.execute(client)
    on_node = {user_id: int(count) for (_, user_id, _), count in zip(changes, replies[1::3], strict=True)}
    moved = [(step, int(total), roles) for (step, _, roles), total in zip(changes, replies[::3], strict=True)]
    pipe = client.pipeline(transaction=False)
    _count_roles(pipe, keys, moved)
    gone = [user_id for user_id, count in on_node.items() if count <= 0]
    if gone:
        pipe.hdel(node_users, *gone)
        pipe.hdel(node_roles, *gone)
    if len(pipe):
        await pipe.execute()


async def reconcile(
    client: redis_async.Redis, keys: Keys, node_id: str, users: Mapping[str, tuple[int, tuple[str, ...]]]
) -> int:
    """Make Redis hold exactly `users` (user -> connections, roles) for this node: each user's
    count is moved by the difference, so users already right never look offline meanwhile.
    Returns how many users were corrected."""
    node_users, node_roles = keys.node_users(node_id), keys.node_user_roles(node_id)
    stored = await client.hgetall(node_users)
    stored_roles = await client.hgetall(node_roles)
    names = sorted({*users, *(u.decode() for u in stored)})
    corrected = 0
    for start in range(0, len(names), RECONCILE_CHUNK):
        chunk = names[start : start + RECONCILE_CHUNK]
        pipe = client.pipeline(transaction=False)
        for user_id in chunk:
            pipe.hget(keys.user_presence(user_id), node_id)
        held = [int(n or 0) for n in await pipe.execute()]
        moves: list[tuple[str, int, tuple[str, ...]]] = []
        for user_id, now in zip(chunk, held, strict=True):
            want, roles = users.get(user_id, (0, ()))
            if not roles:
                roles = tuple(json.loads(stored_roles.get(user_id.encode(), b"[]")))
            if want != now:
                moves.append((user_id, want - now, roles))
        calls = ScriptCalls(client.pipeline(transaction=False))
        for user_id, step, _ in moves:
            presence, connections = keys.user_presence(user_id), keys.user_connections(user_id)
            calls.add(ADJUST, (presence, connections), (node_id, step))
        totals = [int(t) for t in await calls.execute(client)] if moves else []
        moved = [(step, total, roles) for (_, step, roles), total in zip(moves, totals, strict=True)]
        pipe = client.pipeline(transaction=False)
        _count_roles(pipe, keys, moved)
        for user_id in chunk:
            want, roles = users.get(user_id, (0, ()))
            if want > 0:
                pipe.hset(node_users, user_id, want)
                pipe.hset(node_roles, user_id, json.dumps(list(roles)))
            else:
                pipe.hdel(node_users, user_id)
                pipe.hdel(node_roles, user_id)
        await pipe.execute()
        corrected += len(moves)
    return corrected


async def remove_node(client: redis_async.Redis, keys: Keys, node_id: str) -> int:
    """Remove every presence entry of a node (graceful leave, or a dead node); returns users."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.node_users(node_id))
    pipe.hgetall(keys.node_user_roles(node_id))
    users, roles_by_user = await pipe.execute()
    user_ids = [u.decode() for u in users]
    calls = ScriptCalls(client.pipeline(transaction=False))
    for user_id in user_ids:
        calls.add(DROP_NODE, (keys.user_presence(user_id), keys.user_connections(user_id)), (node_id,))
    results = await calls.execute(client) if user_ids else []
    pipe = client.pipeline(transaction=False)
    for user_id, left in zip(user_ids, results, strict=True):
        if int(left) == 0:
            for role in json.loads(roles_by_user.get(user_id.encode(), b"[]")):
                pipe.hincrby(keys.online_by_role, role, -1)
    if len(pipe):
        await pipe.execute()
    # Deleting is allowed when Redis is full, counting is not: delete only once counted.
    pipe = client.pipeline(transaction=False)
    pipe.delete(keys.node_users(node_id), keys.node_user_roles(node_id), keys.node_alive(node_id))
    pipe.zrem(keys.live_nodes, node_id)
    await pipe.execute()
    return len(user_ids)


async def sweep_dead_nodes(
    client: redis_async.Redis, keys: Keys, node_id: str, node_ttl_ms: int
) -> list[str]:
    """Clean up nodes whose heartbeat is older than `node_ttl_ms`; one sweeper per dead node."""
    cleaned = []
    for node in await dead_nodes(client, keys, node_ttl_ms):
        if node == node_id:
            continue
        # A lease so that survivors do not clean the same node twice at once.
        if not await client.set(keys.lease(f"sweep:{node}"), node_id, nx=True, px=node_ttl_ms):
            continue
        users = await remove_node(client, keys, node)
        log.warning("dead_node_cleaned", dead_node=node, users=users)
        cleaned.append(node)
    return cleaned
