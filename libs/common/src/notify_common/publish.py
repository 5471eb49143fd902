"""Publishing helper for Python domain services: validate an event, XADD it to its ingress shard."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as redis_async

from notify_common.keys import Keys
from notify_common.schemas import FIELD_EVENT, BadEntry, Event, check_event, encode
from notify_common.shards import event_shard_key


def build_event(**fields: Any) -> Event:
    """An Event from keyword fields, checked exactly as the router will check it."""
    try:
        event = msgspec.convert(fields, Event)
    except msgspec.ValidationError as exc:
        raise BadEntry(f"invalid event: {exc}") from None
    check_event(event)
    return event


def ingress_stream(event: Event, *, prefix: str = "nf", shards: int = 1) -> str:
    """The ingress shard stream `event` is published to (`STREAM_SHARDS` = `shards`)."""
    return Keys(prefix, shards).ingress_for(event_shard_key(event))


async def publish(client: redis_async.Redis, event: Event, *, prefix: str = "nf", shards: int = 1) -> str:
    """Append `event` to its ingress shard stream; returns the stream entry id.

    Give `event.id` a value unique per event (e.g. "order-123-shipped"): a retry of the same
    publish then reaches each recipient once. `shards` must be the fleet's `STREAM_SHARDS`.
    """
    check_event(event)
    stream = ingress_stream(event, prefix=prefix, shards=shards)
    entry_id = await client.xadd(stream, {FIELD_EVENT: encode(event)})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
