"""Pack Redis commands with hiredis' C encoder on a client's connections.

redis-py's asyncio connections pack every command in Python, which is about a third of the
router's CPU at fan-out rates (one feed XADD and one recipient lookup per user), and a twentieth
of a gateway's in a reconnect storm (presence writes and catch-up reads of thousands of sockets). Its sync
client already packs with `hiredis.pack_command` when hiredis is installed; this does the same
for the asyncio connection classes (plain, TLS, unix socket alike) of one client's pool.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as redis_async
from redis.exceptions import DataError

from notify_common.redis_conn import is_cluster


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        # same argument rules as redis-py: a command name may hold literal words ("CONFIG GET")
        if isinstance(args[0], str):
            args = tuple(args[0].encode().split()) + args[1:]
        elif b" " in args[0]:
            args = tuple(args[0].split()) + args[1:]
        args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from None


def pack_with_hiredis(client: redis_async.Redis) -> redis_async.Redis:
    """Make the connections `client` opens from now on pack with hiredis; returns `client`.
    A cluster client keeps redis-py's packing: its nodes' connections are made per node."""
    if is_cluster(client):
        return client
    pool = client.connection_pool
    base = pool.connection_class
    if not issubclass(base, _HiredisPacking):
        pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return client
