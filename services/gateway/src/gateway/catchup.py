"""Catch-up: what a (re)connecting client missed, read from the feeds the router writes.

Sources: the user's own feed and, when the client names the last notification it saw, the feeds
of its rooms (role:<r>, all, joined topics). Entries are merged in the order the router wrote
them, bounded by a window (age and count), and cut after the client's `last_id`.

That order is the feed entry's millisecond, then the ingress entry id the notification was
routed from: each feed numbers its own entries, so two feeds written within one millisecond tie
on their ids, and only the ingress id says which event came first. (The millisecond stays first:
a scheduled event is routed long after its ingress id was assigned.)
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.presence import now_ms
from notify_common.schemas import FIELD_FEED_NOTIFICATION, FIELD_FEED_ORIGIN

from gateway.frames import stored_notification_frame


class _Stored(msgspec.Struct):
    """The fields of a stored notification that catch-up needs (the rest rides along as bytes)."""

    id: str
    expires_ms: int | None = None


_decoder = msgspec.json.Decoder(_Stored)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What to replay: (notification id, frame) in order, and whether `last_id` was found."""

    frames: list[tuple[str, bytes]]
    gap: bool


def _id_parts(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _order_key(entry_id: bytes, origin: bytes | None) -> tuple[int, int, int, int]:
    """Fleet-wide write order: feed millisecond, ingress id, then the feed's own sequence."""
    feed_ms, feed_seq = _id_parts(entry_id)
    try:
        origin_ms, origin_seq = _id_parts(origin) if origin else (feed_ms, feed_seq)
    except ValueError:  # not an entry id: order by the feed alone rather than fail the catch-up
        origin_ms, origin_seq = feed_ms, feed_seq
    return feed_ms, origin_ms, origin_seq, feed_seq


async def read_catchup(
    client: redis_async.Redis,
    keys: Keys,
    user_id: str,
    rooms: list[str],
    last_id: str | None,
    *,
    window_s: int,
    max_entries: int,
    since_ms: int | None = None,
) -> CatchUp:
    """The notifications after `last_id` (or the user's own window if None), oldest first.

    `gap` is True when `last_id` was given but is no longer in the window: the client may have
    missed more than the window holds and should refresh from the inbox API. With `since_ms`,
    the user's and rooms' entries written since then (a connected client's resync).
    """
    feeds = [keys.user_feed(user_id)]
    if last_id is not None or since_ms is not None:
        feeds += [keys.room_feed(room) for room in rooms]
    oldest = now_ms() - window_s * 1000 if since_ms is None else since_ms
    pipe = client.pipeline(transaction=False)
    for feed in feeds:
        pipe.xrevrange(feed, "+", oldest, count=max_entries)
    replies = await pipe.execute()
    merged: list[tuple[tuple[int, int, int, int], int, bytes]] = []
    for index, entries in enumerate(replies):
        for entry_id, fields in entries:
            raw = fields.get(FIELD_FEED_NOTIFICATION)
            if raw is not None:
                merged.append((_order_key(entry_id, fields.get(FIELD_FEED_ORIGIN)), index, raw))
    merged.sort()
    now = now_ms()
    ordered: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    cut = -1
    for _, _, raw in merged:
        try:
            stored = _decoder.decode(raw)
        except msgspec.DecodeError:
            continue  # not ours to fix here; history keeps the record
        if stored.id in seen:
            continue
        seen.add(stored.id)
        if stored.id == last_id:
            cut = len(ordered)
        if stored.expires_ms is not None and stored.expires_ms <= now:
            continue
        ordered.append((stored.id, raw))
    gap = last_id is not None and cut < 0
    if cut >= 0:
        after = ordered[cut:]
        if after and after[0][0] == last_id:
            after = after[1:]
        ordered = after
    ordered = ordered[-max_entries:]
    return CatchUp([(nid, stored_notification_frame(raw)) for nid, raw in ordered], gap)
