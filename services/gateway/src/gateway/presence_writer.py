"""Presence writes for this node: connection counts per user and node, online users per role,
the node's heartbeat, and the cleanup of nodes that died without saying goodbye.

A user's keys share the `{u:<id>}` hash tag, so the scripts below touch one slot each. The
per-user total (`user_connections`) moves the role counts exactly once per 0 -> 1 and 1 -> 0.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis.asyncio as redis_async
import structlog
from notify_common.backoff import backoff_delay
from notify_common.clock import now_ms
from notify_common.keys import Keys
from redis.exceptions import RedisError

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

# Reconcile: move one user's count on this node by ARGV[2] (either sign). Returns the user's
# total over all nodes after the move.
_ADJUST = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local left = redis.call('INCRBY', KEYS[2], ARGV[2])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
"""

RECONCILE_CHUNK = 500
"""Users reconciled per round trip: a node of 50,000 sockets writes in 100 pipelines, not one
reply of 150,000 entries that would hold Redis for everyone else."""

# Drop a whole node's entry for one user. Returns the remaining total, or -1 if already gone.
# Every script here writes with a command Redis refuses when full (maxmemory) first, so a refused
# script has changed nothing: a retry is exact.
_DROP_NODE = """
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return -1 end
local left = redis.call('DECRBY', KEYS[2], tonumber(c))
redis.call('HDEL', KEYS[1], ARGV[1])
if left <= 0 then redis.call('DEL', KEYS[2]) return 0 end
return left
"""


Change = tuple[int, str, tuple[str, ...]]
"""+1 (a connection opened) or -1 (closed), the user, the user's roles."""


async def write_changes(client: redis_async.Redis, keys: Keys, node_id: str, changes: list[Change]) -> None:
    """Connections opened and closed, in order: one round trip, one more for role counts."""
    node_users, node_roles = keys.node_users(node_id), keys.node_user_roles(node_id)
    pipe = client.pipeline(transaction=False)
    for step, user_id, roles in changes:
        script = _CONNECT if step > 0 else _DISCONNECT
        pipe.eval(script, 2, keys.user_presence(user_id), keys.user_connections(user_id), node_id)
        pipe.hincrby(node_users, user_id, step)
        pipe.hset(node_roles, user_id, json.dumps(list(roles)))
    replies = await pipe.execute()
    role_steps: Counter[str] = Counter()
    on_node: dict[str, int] = {}
    for (step, user_id, roles), total, count in zip(changes, replies[::3], replies[1::3], strict=True):
        on_node[user_id] = int(count)
        if (step > 0 and int(total) == 1) or (step < 0 and int(total) == 0):
            for role in roles:
                role_steps[role] += step
    pipe = client.pipeline(transaction=False)
    for role, step in role_steps.items():
        if step:
            pipe.hincrby(keys.online_by_role, role, step)
    gone = [user_id for user_id, count in on_node.items() if count <= 0]
    if gone:
        pipe.hdel(node_users, *gone)
        pipe.hdel(node_roles, *gone)
    if len(pipe):
        await pipe.execute()


class PresenceWrites:
    """Every presence change of this node, written in order by one flusher (group commit).

    Connections opening and closing together go out in one round trip, one pipeline at a time:
    a storm of thousands of closes cannot exhaust the Redis connection pool, and a close is never
    written before its own open. What the writes amount to is mirrored in `written` (user ->
    connections, roles). When a write fails, or Redis lost the node's presence, the node's entries
    are reconciled with that mirror (each user moved by the difference), retried with back-off:
    a dropped decrement would otherwise leave a user online for ever. The flushing task belongs to
    the node (`owner`, cancelled at shutdown) and ends when nothing is left to write.
    """

    def __init__(
        self, client: redis_async.Redis, keys: Keys, node_id: str, owner: set[asyncio.Task[Any]]
    ) -> None:
        self._client = client
        self._keys = keys
        self._node_id = node_id
        self._owner = owner
        self._queue: list[Change] = []
        self._waiting: list[asyncio.Future[None]] = []
        self._rebuild = False
        self._flusher: asyncio.Task[None] | None = None
        self.written: dict[str, tuple[int, tuple[str, ...]]] = {}

    async def connected(self, user_id: str, roles: tuple[str, ...]) -> None:
        """Returns once this connection's presence is written (raises what the write raised)."""
        self._queue.append((1, user_id, roles))
        await self._wait()

    def disconnected(self, user_id: str, roles: tuple[str, ...]) -> None:
        """Queue the close; nobody waits for it (a closed socket has nothing left to do)."""
        self._queue.append((-1, user_id, roles))
        self._kick()

    async def rebuild(self) -> None:
        """Write this node's presence again from the mirror (Redis lost it); returns when done."""
        self._rebuild = True
        await self._wait()

    async def _wait(self) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        self._kick()
        await done

    def _kick(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
            self._owner.add(self._flusher)
            self._flusher.add_done_callback(self._owner.discard)

    def _mirror(self, changes: list[Change]) -> None:
        for step, user_id, roles in changes:
            count = self.written.get(user_id, (0, roles))[0] + step
            if count > 0:
                self.written[user_id] = (count, roles)
            else:
                self.written.pop(user_id, None)

    async def _flush(self) -> None:
        failures = 0
        try:
            while self._queue or self._rebuild:
                batch, self._queue = self._queue, []
                waiting, self._waiting = self._waiting, []
                self._mirror(batch)
                try:
                    if self._rebuild:
                        await self._write_all()
                    else:
                        await write_changes(self._client, self._keys, self._node_id, batch)
                except (RedisError, OSError) as exc:
                    # Part of the batch may have landed: only a rebuild from the mirror is exact.
                    self._rebuild = True
                    failures += 1
                    log.warning("presence_write_failed", changes=len(batch), error=repr(exc))
                    _settle(waiting, exc)
                    await asyncio.sleep(backoff_delay(failures, base=0.1, cap=5.0))
                    continue
                failures = 0
                _settle(waiting, None)
        finally:
            self._flusher = None
            _settle(self._waiting, asyncio.CancelledError())
            self._waiting = []

    async def _write_all(self) -> None:
        corrected = await reconcile(self._client, self._keys, self._node_id, dict(self.written))
        self._rebuild = False
        log.info("presence_reconciled", users=len(self.written), corrected=corrected)


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in waiting:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            done.cancel()
        else:
            done.set_exception(error)


async def heartbeat(client: redis_async.Redis, keys: Keys, node_id: str, node_ttl_ms: int) -> bool:
    """Refresh this node's liveness (the live-nodes score is the last heartbeat, unix ms) if Redis
    still holds its presence; False, with nothing written, when it does not: Redis restarted
    empty or failed over to a replica behind (the marker is gone), a survivor cleaned the node
    up, or the node was silent longer than `node_ttl_ms` and routers took it for dead. The caller
    then holds its sockets, announces them again and calls `mark_alive` last, so no router sends
    the node anything new before the hold (resync.py)."""
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.node_alive(node_id))
    pipe.zscore(keys.live_nodes, node_id)
    marker, score = await pipe.execute()
    if not marker or score is None or now_ms() - float(score) > node_ttl_ms:
        return False
    await mark_alive(client, keys, node_id)
    return True


async def mark_alive(client: redis_async.Redis, keys: Keys, node_id: str) -> None:
    """Announce this node live now, with the marker its heartbeats check."""
    pipe = client.pipeline(transaction=False)
    pipe.zadd(keys.live_nodes, {node_id: now_ms()})
    pipe.set(keys.node_alive(node_id), b"1")
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
        pipe = client.pipeline(transaction=False)
        for user_id, step, _ in moves:
            presence, connections = keys.user_presence(user_id), keys.user_connections(user_id)
            pipe.eval(_ADJUST, 2, presence, connections, node_id, step)
        totals = [int(t) for t in await pipe.execute()] if moves else []
        role_steps: Counter[str] = Counter()
        for (_, step, roles), total in zip(moves, totals, strict=True):
            before = total - step
            if before <= 0 < total:
                role_steps.update(dict.fromkeys(roles, 1))
            elif total <= 0 < before:
                role_steps.update(dict.fromkeys(roles, -1))
        pipe = client.pipeline(transaction=False)
        for role, step in role_steps.items():
            if step:
                pipe.hincrby(keys.online_by_role, role, step)
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
