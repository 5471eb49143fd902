"""Stream lengths, consumer-group lag and pending entries, and consumers that sit on work."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as redis_async
from notify_common.keys import Keys


@dataclass(frozen=True)
class ConsumerInfo:
    """One consumer of a group: entries it holds unacked and ms since it last read."""

    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class GroupInfo:
    """One consumer group: `lag` = entries not yet delivered to it (None: Redis cannot tell)."""

    name: str
    lag: int | None
    pending: int
    last_delivered_id: str
    consumers: list[ConsumerInfo] = field(default_factory=list)


@dataclass(frozen=True)
class StreamInfo:
    """One stream with its length and groups."""

    name: str
    length: int
    groups: list[GroupInfo] = field(default_factory=list)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def stream_names(client: redis_async.Redis, keys: Keys) -> list[str]:
    """The fleet's fixed streams (every shard), then every gateway node's delivery stream found by SCAN."""
    fixed = [*keys.ingress_shards, *keys.push_shards, *keys.receipt_shards, keys.dead_letters]
    nodes = sorted(
        {_text(k) async for k in client.scan_iter(match=keys.node_deliveries("*"), _type="STREAM", count=500)}
    )
    return fixed + nodes


async def stream_info(client: redis_async.Redis, name: str) -> StreamInfo:
    """Length, groups, lag, pending and consumers of one stream (empty if it does not exist)."""
    if not await client.exists(name):
        return StreamInfo(name, 0)
    length = int(await client.xlen(name))
    groups = []
    for raw in await client.xinfo_groups(name):
        group = _text(raw["name"])
        consumers = [
            ConsumerInfo(_text(c["name"]), int(c["pending"]), int(c["idle"]))
            for c in await client.xinfo_consumers(name, group)
        ]
        lag = raw.get("lag")
        groups.append(
            GroupInfo(
                name=group,
                lag=None if lag is None else int(lag),
                pending=int(raw["pending"]),
                last_delivered_id=_text(raw["last-delivered-id"]),
                consumers=consumers,
            )
        )
    return StreamInfo(name, length, groups)


async def fleet_streams(client: redis_async.Redis, keys: Keys) -> list[StreamInfo]:
    """Every stream of the fleet with its groups."""
    return [await stream_info(client, name) for name in await stream_names(client, keys)]


def stuck_consumers(streams: list[StreamInfo], idle_ms: int) -> list[tuple[str, str, ConsumerInfo]]:
    """(stream, group, consumer) for consumers holding pending entries idle for `idle_ms` or more.

    Such entries are claimed by another replica after CLAIM_IDLE_MS; one that stays listed here
    means no live replica of the group is claiming (all down, or all stuck in a handler).
    """
    return [
        (s.name, g.name, c)
        for s in streams
        for g in s.groups
        for c in g.consumers
        if c.pending > 0 and c.idle_ms >= idle_ms
    ]
