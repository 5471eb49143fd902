"""Trim a stream to what some consumer group may still need, never further."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import redis.asyncio as redis_async
import structlog

from notify_common import metrics
from notify_common.lifecycle import periodic
from notify_common.stream_ids import EntryKey, id_key, id_of, id_text, next_id

log = structlog.get_logger("notify_common.trim")


async def safe_trim_floor(
    client: redis_async.Redis, stream: str, required_groups: Iterable[str]
) -> str | None:
    """The lowest id any group still needs (unread or pending), or None if trimming is unsafe.

    Unsafe means a group that must read this stream does not exist yet: its entries would be
    trimmed before it ever saw them.
    """
    try:
        groups = await client.xinfo_groups(stream)
    except Exception as exc:  # the stream does not exist yet: nothing to trim
        if "no such key" in str(exc).lower():
            return None
        raise
    by_name = {id_text(g["name"]): g for g in groups}
    if not by_name or any(name not in by_name for name in required_groups):
        return None
    floor: EntryKey | None = None
    for name, info in by_name.items():
        # The next unread entry is strictly after last-delivered-id.
        candidates = [id_key(next_id(info["last-delivered-id"]))]
        if int(info["pending"]) > 0:
            summary = await client.xpending(stream, name)
            if summary and summary.get("min"):
                candidates.append(id_key(summary["min"]))
        lowest = min(candidates)
        floor = lowest if floor is None else min(floor, lowest)
    if floor is None:
        return None
    return id_of(floor)


async def trim_acknowledged(client: redis_async.Redis, stream: str, required_groups: Iterable[str]) -> int:
    """XTRIM MINID to the safe floor (approximate, so it removes whole nodes cheaply)."""
    floor = await safe_trim_floor(client, stream, list(required_groups))
    if floor is None:
        return 0
    removed = int(await client.xtrim(stream, minid=floor, approximate=True))
    if removed:
        metrics.STREAM_TRIMMED.labels(stream=stream).inc(removed)
    return removed


async def trim_loop(
    client: redis_async.Redis,
    streams: dict[str, list[str]],
    stop: asyncio.Event,
    interval_s: float = 30.0,
) -> None:
    """Every `interval_s`, trim each stream (stream -> groups that must have read it)."""

    async def trim_all() -> None:
        for stream, groups in streams.items():
            try:
                await trim_acknowledged(client, stream, groups)
            except Exception as exc:  # Redis away: the next pass tries again; the other streams now
                log.warning("trim_failed", stream=stream, error=repr(exc))

    await periodic("trim", trim_all, interval_s, stop)
