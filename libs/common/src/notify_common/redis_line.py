"""A dedicated Redis connection for a hot loop: commands packed by hiredis, sent in one write,
replies read in order, without redis-py's pool and client layers.

At 1,000 events/s a consumer reads one or two entries per XREADGROUP, so what a batch costs is
its few round trips, and with redis-py's client each of them pays a pool checkout and release
(a condition, a timeout, a liveness probe, event dispatch), a per-reply timer and reply
post-processing: more than the work itself. A line keeps one connection of the client's pool
settings (URL, password, TLS, unix socket: redis-py's own connection class does the handshake)
and bounds each exchange with one deadline. Any error drops the connection, which is reopened
on the next call; callers see redis-py's exceptions (ConnectionError, TimeoutError as OSError,
ResponseError subclasses such as NoScriptError, OutOfMemoryError, ExecAbortError).

On a Redis Cluster a line is a client of its own (replies unparsed, as above) with one such
connection per master (notify_common.cluster_line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis_async

from notify_common.cluster_line import Arg, ClusterLine, Command, pack
from notify_common.redis_conn import FleetCluster

__all__ = ["Arg", "Command", "RedisLine"]


class RedisLine:
    """One connection, one exchange at a time (a lock orders concurrent callers)."""

    def __init__(self, client: redis_async.Redis, timeout_s: float) -> None:
        self._lock = asyncio.Lock()
        self.timeout_s = timeout_s
        self._cluster: ClusterLine | None = None
        if isinstance(client, FleetCluster):
            self._cluster = ClusterLine(client.raw_twin())
            return
        pool = client.connection_pool
        settings = {**pool.connection_kwargs, "socket_timeout": None}  # one deadline per exchange
        self._conn = pool.connection_class(**settings)

    async def call(self, *command: Arg, timeout_s: float | None = None) -> Any:
        """One command's reply (a Redis error reply is raised)."""
        [reply] = await self.pipeline([command], timeout_s=timeout_s)
        return reply

    async def pipeline(self, commands: Sequence[Command], *, timeout_s: float | None = None) -> list[Any]:
        """Every command's reply, in order; the first error reply is raised."""
        if self._cluster is not None:
            async with self._lock, asyncio.timeout(timeout_s or self.timeout_s):
                return await self._cluster.pipeline(commands)
        packed = b"".join(pack(commands))
        conn = self._conn
        async with self._lock, asyncio.timeout(timeout_s or self.timeout_s):
            try:
                if not conn.is_connected:
                    # connect() itself: a sentinel-managed connection asks the sentinels for the
                    # master there (send_packed_command alone would dial its default address)
                    await conn.connect()
                await conn.send_packed_command(packed, check_health=False)
                return [await conn.read_response() for _ in commands]
            except BaseException:
                # replies may be left unread (an error reply, a timeout): never reuse the socket
                await conn.disconnect(nowait=True)
                raise

    async def transaction(self, commands: Sequence[Command], *, timeout_s: float | None = None) -> list[Any]:
        """Run `commands` in MULTI/EXEC and return their results. A command Redis refuses when
        queueing it (maxmemory, a wrong argument count) aborts all of them and is raised; one that
        fails while running (WRONGTYPE) comes back as a ResponseError among the results, the
        others having been applied."""
        replies = await self.pipeline([("MULTI",), *commands, ("EXEC",)], timeout_s=timeout_s)
        results: list[Any] = replies[-1]
        return results

    async def script_load(self, script: str | bytes) -> None:
        """Load a Lua script where this line's EVALSHAs go: on a cluster, every master as the
        line knows them (after a failover, the promoted replica has an empty script cache and
        the line is the one that just met it)."""
        if self._cluster is not None:
            await self._cluster.client.script_load(script)
            return
        await self.call("SCRIPT", "LOAD", script)

    async def aclose(self) -> None:
        """Close the connection (a later call reopens it)."""
        if self._cluster is not None:
            await self._cluster.aclose()
            return
        await self._conn.disconnect()
