"""`RedisLine`'s exchanges on a Redis Cluster: each command to the master of its key's slot,
packed by hiredis, one write per node on a connection of the line's own, replies put back in
the order the commands were given.

redis-py's cluster pipeline does the same routing in Python layers per command (its packer, its
encoder, a strategy object, a slot lookup through several calls), which cost the router 4.3x its
single-server CPU per event (bench/FINDINGS.md F16). Here a command's slot comes from a small
table of where its key is; a run with any command not in the table goes through redis-py's
pipeline as before. The slot table is the cluster client's own: after any error (MOVED, ASK,
TRYAGAIN, CLUSTERDOWN, a dead node, a timeout) the error is raised as before (callers retry the
batch: at-least-once) and the next exchange first reloads the table from the cluster.

A MULTI/EXEC block cannot span slots: its commands are sent as a plain pipeline and its XACKs
only once every other command succeeded, so an effect still lands before its ack, but no longer
together with it (a consumer killed in between redoes the batch; at-least-once holds, atomicity
does not). The block's EXEC reply is every command's reply, in the block's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import DataError

Arg = bytes | str | int | float
Command = tuple[Arg, ...]

# where the (first) key is in each routed command; a multi-key command's keys share a slot by design
_KEY_AT: dict[str, int] = {
    **dict.fromkeys(
        """XADD XACK XCLAIM XAUTOCLAIM XPENDING XDEL XLEN XTRIM XRANGE XREVRANGE XGROUP XINFO SET GET
        DEL UNLINK EXISTS EXPIRE PEXPIRE TTL PTTL INCR DECR INCRBY DECRBY HSET HGET HDEL HGETALL
        HINCRBY HMGET ZADD ZREM ZRANGE ZRANGEBYSCORE ZREMRANGEBYSCORE ZCARD ZSCORE SADD SREM SMEMBERS
        SISMEMBER""".split(),
        1,
    ),
    "EVALSHA": 3,  # <sha> <numkeys> <key> ...
    "EVAL": 3,
}
# subcommand first: the key is the second argument
_SUBCOMMANDS = frozenset(("XGROUP", "XINFO"))


def slot_of(command: Command) -> int | None:
    """The hash slot of `command`'s key, or None when the table does not know where it is."""
    name = command[0]
    name = (name.decode() if isinstance(name, bytes) else str(name)).upper()
    if name in ("XREADGROUP", "XREAD"):
        names = [a.upper() if isinstance(a, str) else a for a in command]
        at = names.index("STREAMS") + 1 if "STREAMS" in names else len(command)
    else:
        found = _KEY_AT.get(name)
        if found is None or (found == 3 and (len(command) < 3 or int(command[2]) < 1)):
            return None  # unknown, or a script without keys
        at = found + 1 if name in _SUBCOMMANDS else found
    if at >= len(command):
        return None
    key = command[at]
    slot: int = key_slot(key if isinstance(key, bytes) else str(key).encode())
    return slot


def pack(commands: Sequence[Command]) -> list[bytes]:
    """Each command in Redis' protocol (DataError for an argument Redis cannot take)."""
    try:
        return [hiredis.pack_command(c) for c in commands]  # type: ignore[arg-type]  # stub: any arity
    except TypeError as exc:
        raise DataError(str(exc)) from None


class ClusterLine:
    """One connection per master, one exchange at a time (the caller orders them)."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._conns: dict[str, AbstractConnection] = {}
        self._stale = True  # load the slot table before the first exchange

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """Every command's reply, in order, MULTI/EXEC blocks split as the module says."""
        packed = pack(commands)
        replies: list[Any] = []
        run: list[int] = []
        index = 0
        while index < len(commands):
            if commands[index][0] != "MULTI":
                run.append(index)
                index += 1
                continue
            replies += await self._send(commands, packed, run)
            run = []
            end = commands.index(("EXEC",), index)
            block = range(index + 1, end)
            acks = [i for i in block if commands[i][0] == "XACK"]
            effects = [i for i in block if commands[i][0] != "XACK"]
            results: dict[int, Any] = {}
            for part in (effects, acks):
                results.update(zip(part, await self._send(commands, packed, part), strict=True))
            replies += [b"OK", *[b"QUEUED"] * len(block), [results[i] for i in block]]
            index = end + 1
        return replies + await self._send(commands, packed, run)

    async def _send(self, commands: Sequence[Command], packed: list[bytes], chosen: list[int]) -> list[Any]:
        """The replies of `commands[i]` for i in `chosen`, in that order; the first error is raised."""
        if not chosen:
            return []
        slots = [slot_of(commands[i]) for i in chosen]
        if None in slots:
            return await _redis_py_pipeline(self.client, [commands[i] for i in chosen])
        try:
            if self._stale:
                await self._reload_slots()
            nodes = self.client.nodes_manager
            per_node: dict[str, list[int]] = {}  # node name -> positions in `chosen`
            for position, slot in enumerate(slots):
                node = nodes.get_node_from_slot(slot)
                if node.name not in self._conns:
                    settings = {**node.connection_kwargs, "socket_timeout": None}  # the caller's deadline
                    self._conns[node.name] = node.connection_class(**settings)
                per_node.setdefault(node.name, []).append(position)
            for name, positions in per_node.items():
                conn = self._conns[name]
                if not conn.is_connected:
                    await conn.connect()
                batch = b"".join([packed[chosen[p]] for p in positions])
                await conn.send_packed_command(batch, check_health=False)
            replies: list[Any] = [None] * len(chosen)
            for name, positions in per_node.items():
                conn = self._conns[name]
                for p in positions:
                    replies[p] = await conn.read_response()
            return replies
        except BaseException:
            # replies may be left unread, the table may be out of date: drop both
            self._stale = True
            await self._disconnect()
            raise

    async def _reload_slots(self) -> None:
        if not self.client._initialize:  # the client's own first load
            await self.client.nodes_manager.initialize()
        else:
            await self.client.initialize()
        self._stale = False

    async def _disconnect(self) -> None:
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            await conn.disconnect(nowait=True)

    async def aclose(self) -> None:
        await self._disconnect()
        await self.client.aclose()


async def _redis_py_pipeline(client: RedisCluster, commands: Sequence[Command]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return list(await pipe.execute(raise_on_error=True))
