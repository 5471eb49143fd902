"""This node's presence writes, ordered and grouped: one flusher writes every change in turn
(the Redis side, scripts and keys, is `notify_common.presence`)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis_async
import structlog
from notify_common.backoff import backoff_delay
from notify_common.keys import Keys
from notify_common.lifecycle import spawn_owned
from notify_common.presence import Change, reconcile, write_changes
from notify_common.presence.writer import RECONCILE_CHUNK
from redis.exceptions import RedisClusterException, RedisError

log = structlog.get_logger("gateway.presence")


class PresenceWrites:
    """Every presence change of this node, written in order by one flusher (group commit).

    Connections opening and closing together go out in one round trip, one pipeline at a time:
    a storm of thousands of closes cannot exhaust the Redis connection pool, and a close is never
    written before its own open. What the writes amount to is mirrored in `written` (user ->
    connections, roles). When a write fails, or Redis lost the node's presence, the node's entries
    are reconciled with that mirror (each user moved by the difference), retried with back-off:
    a dropped decrement would otherwise leave a user online for ever. The flushing task belongs to
    the node (`owner`, cancelled at shutdown) and ends when nothing is left to write.

    Each write is bounded by `deadline_s` as a whole (a TimeoutError fails it like an outage), so
    the client may be one without a timer per reply (`connect(per_read_timeout=False)`): a storm's
    batches carry thousands of replies.
    """

    def __init__(
        self,
        client: redis_async.Redis,
        keys: Keys,
        node_id: str,
        owner: set[asyncio.Task[Any]],
        deadline_s: float = 6.0,
    ) -> None:
        self._client = client
        self._deadline_s = deadline_s
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
            self._flusher = spawn_owned(self._owner, self._flush())

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
                        async with asyncio.timeout(self._deadline_s):
                            await write_changes(self._client, self._keys, self._node_id, batch)
                except (RedisError, RedisClusterException, OSError) as exc:
                    # A cluster's own errors (no node for a slot mid-failover) are not RedisErrors.
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
        chunks = 1 + len(self.written) // RECONCILE_CHUNK  # a few round trips each
        async with asyncio.timeout(self._deadline_s * chunks):
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
