"""Catch-up: what a (re)connecting client missed, read from the feeds the router writes.

Sources: the user's own feed and, when the client names the last notification it saw, the feeds
of its rooms (role:<r>, all, joined topics). Entries are merged in the order the router wrote
them, bounded by a window (age and count), and cut after the client's `last_id`.

That order is the feed entry's millisecond, then the ingress entry id the notification was
routed from: each feed numbers its own entries, so two feeds written within one millisecond tie
on their ids, and only the ingress id says which event came first. (The millisecond stays first:
a scheduled event is routed long after its ingress id was assigned.)

Room feeds are shared by every member of the room: in a reconnect storm thousands of clients of
one role ask for the same feed within milliseconds. `RoomFeedReads` serves the reads that are in
flight at once with one XREVRANGE (single flight), decoded and framed once.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass

import msgspec
import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.presence import now_ms
from notify_common.schemas import FIELD_FEED_NOTIFICATION, FIELD_FEED_ORIGIN
from prometheus_client import Counter

from gateway.frames import stored_notification_frame

CATCHUP_READS = Counter(
    "nf_gateway_catchup_reads_total",
    "Catch-up feed reads: shared=true were served by a room-feed read already in flight.",
    ["feed", "shared"],
)

OrderKey = tuple[int, int, int, int]


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


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: OrderKey
    id: str
    expires_ms: int | None
    frame: bytes


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One feed's reply, decoded once: entries oldest first (by order key), their keys for
    bisecting, and each id's first key (a notification may sit in a feed twice)."""

    entries: list[FeedEntry]
    keys: list[OrderKey]
    first: dict[str, OrderKey]


def _id_parts(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _order_key(entry_id: bytes, origin: bytes | None) -> OrderKey:
    """Fleet-wide write order: feed millisecond, ingress id, then the feed's own sequence."""
    feed_ms, feed_seq = _id_parts(entry_id)
    try:
        origin_ms, origin_seq = _id_parts(origin) if origin else (feed_ms, feed_seq)
    except ValueError:  # not an entry id: order by the feed alone rather than fail the catch-up
        origin_ms, origin_seq = feed_ms, feed_seq
    return feed_ms, origin_ms, origin_seq, feed_seq


def decode_feed(reply: list[tuple[bytes, dict[bytes, bytes]]]) -> FeedRead:
    entries: list[FeedEntry] = []
    for entry_id, fields in reply:
        raw = fields.get(FIELD_FEED_NOTIFICATION)
        if raw is None:
            continue
        try:
            stored = _decoder.decode(raw)
        except msgspec.DecodeError:
            continue  # not ours to fix here; history keeps the record
        key = _order_key(entry_id, fields.get(FIELD_FEED_ORIGIN))
        entries.append(FeedEntry(key, stored.id, stored.expires_ms, stored_notification_frame(raw)))
    entries.sort(key=lambda e: e.key)
    first: dict[str, OrderKey] = {}
    for entry in entries:
        first.setdefault(entry.id, entry.key)
    return FeedRead(entries, [e.key for e in entries], first)


async def read_feed(client: redis_async.Redis, feed: str, oldest: int, count: int) -> FeedRead:
    return decode_feed(await client.xrevrange(feed, "+", oldest, count=count))


@dataclass(slots=True)
class _Flight:
    mark: int
    reply: asyncio.Future[FeedRead]


class RoomFeedReads:
    """Single flight for room-feed reads on one node.

    Why a shared reply loses nothing: a connection is registered in the node's socket index (its
    live frames held in its buffer) before its catch-up starts, and the router writes a room's
    feed entry before, or in the same round trip as, the node delivery of that notification. So
    a notification missing from a reply was written to the feed after Redis ran the read, and its
    delivery reaches this node later still: every connection registered before the read was sent
    holds it in its buffer. A reply is therefore reused only by connections registered before
    the read was issued (`live_from < flight.mark`, marks from one counter); a connection
    registered later issues its own read.
    """

    def __init__(self, client: redis_async.Redis) -> None:
        self._client = client
        self._clock = 0
        self._in_flight: dict[tuple[str, int], _Flight] = {}

    def mark(self) -> int:
        """A point in this node's order of registrations and reads."""
        self._clock += 1
        return self._clock

    async def read(self, feed: str, oldest: int, count: int, live_from: int) -> FeedRead:
        """`feed`'s newest `count` entries; may be a reply issued up to now, never one issued
        before `live_from` (the caller drops entries older than its own `oldest`)."""
        slot = (feed, count)
        flight = self._in_flight.get(slot)
        if flight is not None and live_from < flight.mark:
            try:
                shared = await asyncio.shield(flight.reply)
            except asyncio.CancelledError:
                if not flight.reply.cancelled():
                    raise  # this caller was cancelled, not the read it waited for
            else:
                CATCHUP_READS.labels(feed="room", shared="true").inc()
                return shared
        flight = _Flight(self.mark(), asyncio.get_running_loop().create_future())
        # Waiters retrieve the outcome; with none, this keeps an error from being reported unseen.
        flight.reply.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._in_flight[slot] = flight
        CATCHUP_READS.labels(feed="room", shared="false").inc()
        try:
            result = await read_feed(self._client, feed, oldest, count)
        except asyncio.CancelledError:
            flight.reply.cancel()  # waiters read on their own
            raise
        except Exception as exc:
            flight.reply.set_exception(exc)
            raise
        finally:
            if self._in_flight.get(slot) is flight:
                del self._in_flight[slot]
        flight.reply.set_result(result)
        return result


async def read_catchup(
    client: redis_async.Redis,
    keys: Keys,
    user_id: str,
    rooms: list[str],
    last_id: str | None,
    *,
    window_s: int,
    max_entries: int,
    room_reads: RoomFeedReads | None = None,
    live_from: int = 0,
) -> CatchUp:
    """The notifications after `last_id` (or the user's own window if None), oldest first.

    `gap` is True when `last_id` was given but is no longer in the window: the client may have
    missed more than the window holds and should refresh from the inbox API. Room feeds go
    through `room_reads` when given (`live_from`: the connection's registration mark).
    """
    oldest = now_ms() - window_s * 1000
    CATCHUP_READS.labels(feed="user", shared="false").inc()
    user_read = read_feed(client, keys.user_feed(user_id), oldest, max_entries)
    if last_id is None:
        feeds = [await user_read]
    elif room_reads is None:
        feeds = list(
            await asyncio.gather(
                user_read, *(read_feed(client, keys.room_feed(r), oldest, max_entries) for r in rooms)
            )
        )
        CATCHUP_READS.labels(feed="room", shared="false").inc(len(rooms))
    else:
        room_feeds = [room_reads.read(keys.room_feed(r), oldest, max_entries, live_from) for r in rooms]
        feeds = list(await asyncio.gather(user_read, *room_feeds))
    now = now_ms()
    cut = _cut(feeds, last_id, oldest)
    if last_id is not None and cut is None:
        return CatchUp(_merge(feeds, None, oldest, now, max_entries), True)
    return CatchUp(_merge(feeds, cut, oldest, now, max_entries), False)


def _cut(feeds: list[FeedRead], last_id: str | None, oldest: int) -> tuple[OrderKey, int] | None:
    """Where `last_id` first occurs in the merged order: (order key, feed index), or None."""
    if last_id is None:
        return None
    found = [(f.first[last_id], i) for i, f in enumerate(feeds) if last_id in f.first]
    found = [(key, i) for key, i in found if key[0] >= oldest]
    return min(found) if found else None


def _merge(
    feeds: list[FeedRead], cut: tuple[OrderKey, int] | None, oldest: int, now: int, max_entries: int
) -> list[tuple[str, bytes]]:
    """Entries after `cut` (all if None) in write order, each id once (its first occurrence in
    the merged order of every entry, not just the ones after the cut), unexpired, newest
    `max_entries`."""
    start_key: OrderKey = (oldest, 0, 0, 0)
    tail: list[tuple[OrderKey, int, FeedEntry]] = []
    for index, feed in enumerate(feeds):
        if cut is None:
            start = bisect.bisect_left(feed.keys, start_key)
        elif index > cut[1]:
            start = bisect.bisect_left(feed.keys, cut[0])
        else:
            start = bisect.bisect_right(feed.keys, cut[0])
        tail += [(e.key, index, e) for e in feed.entries[start:]]
    tail.sort(key=lambda t: (t[0], t[1]))
    ordered: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for key, index, entry in tail:
        if entry.id in seen or _earlier_copy(feeds, entry.id, key, index, oldest):
            continue
        seen.add(entry.id)
        if entry.expires_ms is not None and entry.expires_ms <= now:
            continue
        ordered.append((entry.id, entry.frame))
    return ordered[-max_entries:]


def _earlier_copy(feeds: list[FeedRead], nid: str, key: OrderKey, index: int, oldest: int) -> bool:
    """Whether `nid` also occurs earlier in the merged order (that copy is the one counted)."""
    for other, feed in enumerate(feeds):
        first = feed.first.get(nid)
        if first is not None and first[0] >= oldest and (first, other) < (key, index):
            return True
    return False
