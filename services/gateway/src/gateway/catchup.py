"""Catch-up: what a (re)connecting client missed, read from the feeds the router writes.

Sources: the user's own feed and, when the client names the last notification it saw, the feeds
of its rooms (role:<r>, all, joined topics). Entries are merged in the order the router wrote
them, bounded by a window (age and count), and cut after the client's `last_id`.

That order is the feed entry's millisecond, then the ingress entry id the notification was
routed from: each feed numbers its own entries, so two feeds written within one millisecond tie
on their ids, and only the ingress id says which event came first. (The millisecond stays first:
a scheduled event is routed long after its ingress id was assigned.)

Room feeds are shared by every member of the room: in a reconnect storm thousands of clients of
one role ask for the same feed within milliseconds. `FeedReads` batches the reads of concurrent
catch-ups into one pipeline and serves a room feed asked for at once with one XREVRANGE (single
flight), decoded and framed once.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.asyncio as redis_async
from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.lifecycle import spawn_owned
from notify_common.presence.in_flight import in_flight_command, in_flight_from
from notify_common.redis_line import Command
from notify_common.schemas import FIELD_FEED_NOTIFICATION, FIELD_FEED_ORIGIN
from notify_common.stream_ids import id_key
from prometheus_client import Counter

from gateway.frames import stored_notification_frame

CATCHUP_READS = Counter(
    "nf_gateway_catchup_reads_total",
    "Catch-up feed reads: shared=true were served by a room-feed read already in flight.",
    ["feed", "shared"],
)
# Bound once: `labels()` looks its child up under a lock, per call (a storm reads thousands a second).
_USER_READ = CATCHUP_READS.labels(feed="user", shared="false")
_ROOM_READ = CATCHUP_READS.labels(feed="room", shared="false")
_ROOM_SHARED = CATCHUP_READS.labels(feed="room", shared="true")

OrderKey = tuple[int, int, int, int]


class _Stored(msgspec.Struct):
    """The fields of a stored notification that catch-up needs (the rest rides along as bytes)."""

    id: str
    expires_ms: int | None = None


_decoder = msgspec.json.Decoder(_Stored)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What to replay: (notification id, frame) in order, whether `last_id` was found, and the
    routings of the user in flight when the feed was read (token -> deadline: in_flight.py)."""

    frames: list[tuple[str, bytes]]
    gap: bool
    in_flight: dict[bytes, int] = field(default_factory=dict)


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
    in_flight: dict[bytes, int] = field(default_factory=dict)
    """A user feed's: the routings marked on the user just before the read."""


def _order_key(entry_id: bytes, origin: bytes | None) -> OrderKey:
    """Fleet-wide write order: feed millisecond, ingress id, then the feed's own sequence."""
    feed_ms, feed_seq = id_key(entry_id)
    try:
        origin_ms, origin_seq = id_key(origin) if origin else (feed_ms, feed_seq)
    except ValueError:  # not an entry id: order by the feed alone rather than fail the catch-up
        origin_ms, origin_seq = feed_ms, feed_seq
    return feed_ms, origin_ms, origin_seq, feed_seq


def decode_feed(
    reply: list[tuple[bytes, dict[bytes, bytes]]], in_flight: dict[bytes, int] | None = None
) -> FeedRead:
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
    return FeedRead(entries, [e.key for e in entries], first, in_flight or {})


@dataclass(slots=True)
class _Wanted:
    feed: str
    oldest: int
    count: int
    reply: asyncio.Future[FeedRead]
    marks: Command | None = None
    """A user feed's in-flight routings read, sent just before the feed's."""


class FeedReads:
    """The catch-up reads of one node, batched and, for room feeds, single-flighted.

    Reads asked for while a batch is on its way to Redis queue up and go out together in the
    next pipeline (group commit): in a reconnect storm a few round trips carry hundreds of
    reads. A room feed asked for twice in a batch is read once, and a room read already sent is
    reused by whoever may reuse it:

    Why a shared reply loses nothing: a connection is registered in the node's socket index (its
    live frames held in its buffer) before its catch-up starts, and the router writes a room's
    feed entry before, or in the same round trip as, the node delivery of that notification. So
    a notification missing from a reply was written to the feed after Redis ran the read, and its
    delivery reaches this node later still: every connection registered before the read was sent
    holds it in its buffer. A reply is therefore reused only by connections registered before
    its batch was sent (`live_from < mark`, marks from one counter); a connection registered
    later waits for the next batch. A read still queued has not been sent: anyone may join it.

    The flushing task is the node's (`owner`, cancelled at shutdown) and ends when the queue is
    empty. User feeds are one user's each: never shared; each is read together with the user's
    routings in flight (read first: notify_common.presence.in_flight), for the user's own
    notifications routed from a presence read older than the connection. Each batch is bounded
    by `deadline_s` as a whole, so the client may be one without a timer per reply.
    """

    def __init__(
        self, client: redis_async.Redis, owner: set[asyncio.Task[Any]], deadline_s: float = 6.0
    ) -> None:
        self._client = client
        self._deadline_s = deadline_s
        self._owner = owner
        self._clock = 0
        self._queued_rooms: dict[tuple[str, int], _Wanted] = {}
        self._queued_users: list[_Wanted] = []
        self._sent_rooms: dict[tuple[str, int], _Wanted] = {}
        self._sent_mark = 0
        self._flusher: asyncio.Task[None] | None = None

    def mark(self) -> int:
        """A point in this node's order of registrations and sent batches."""
        self._clock += 1
        return self._clock

    def sending(self, feed: str) -> bool:
        """Whether a read of `feed` is on its way to Redis now."""
        return any(slot[0] == feed for slot in self._sent_rooms)

    def user_feed(self, feed: str, oldest: int, count: int, marks: Command) -> asyncio.Future[FeedRead]:
        """`feed`'s entries since `oldest`, with the user's routings in flight (`marks`, read first)."""
        _USER_READ.inc()
        wanted = _Wanted(feed, oldest, count, asyncio.get_running_loop().create_future(), marks)
        self._queued_users.append(wanted)
        self._start()
        return wanted.reply

    def room_feed(self, feed: str, oldest: int, count: int, live_from: int) -> asyncio.Future[FeedRead]:
        """`feed`'s newest `count` entries from a read sent after `live_from`, or still queued
        (the caller drops entries older than its own `oldest`)."""
        slot = (feed, count)
        sent = self._sent_rooms.get(slot)
        if sent is not None and live_from < self._sent_mark:
            _ROOM_SHARED.inc()
            return sent.reply
        queued = self._queued_rooms.get(slot)
        if queued is not None:
            _ROOM_SHARED.inc()
            return queued.reply
        _ROOM_READ.inc()
        wanted = _Wanted(feed, oldest, count, asyncio.get_running_loop().create_future())
        self._queued_rooms[slot] = wanted
        self._start()
        return wanted.reply

    def _start(self) -> None:
        if self._flusher is None:
            self._flusher = spawn_owned(self._owner, self._flush())

    async def _flush(self) -> None:
        batch: list[_Wanted] = []
        try:
            while self._queued_rooms or self._queued_users:
                self._sent_rooms, self._queued_rooms = self._queued_rooms, {}
                batch = [*self._sent_rooms.values(), *self._queued_users]
                self._queued_users = []
                self._sent_mark = self.mark()
                pipe = self._client.pipeline(transaction=False)
                for wanted in batch:
                    if wanted.marks is not None:
                        pipe.execute_command(*wanted.marks)
                    pipe.xrevrange(wanted.feed, "+", wanted.oldest, count=wanted.count)
                try:
                    async with asyncio.timeout(self._deadline_s):
                        replies = iter(await pipe.execute())
                except Exception as exc:  # each waiter raises it, as its own read would have
                    for wanted in batch:
                        _settle(wanted.reply, exc)
                else:
                    for wanted in batch:
                        marks = in_flight_from(next(replies)) if wanted.marks is not None else {}
                        _settle(wanted.reply, decode_feed(next(replies), marks))
                self._sent_rooms = {}
                batch = []
        finally:
            self._flusher = None
            self._sent_rooms = {}
            for wanted in [*batch, *self._queued_rooms.values(), *self._queued_users]:
                wanted.reply.cancel()  # cancelled at shutdown: nobody waits long
            self._queued_rooms, self._queued_users = {}, []


def _settle(reply: asyncio.Future[FeedRead], outcome: FeedRead | Exception) -> None:
    if reply.done():
        return
    if isinstance(outcome, Exception):
        reply.set_exception(outcome)
        reply.exception()  # retrieved here too: waiters that gave up must not leave it unseen
    else:
        reply.set_result(outcome)


async def read_catchup(
    reads: FeedReads,
    keys: Keys,
    user_id: str,
    rooms: list[str],
    last_id: str | None,
    *,
    window_s: int,
    max_entries: int,
    live_from: int,
    since_ms: int | None = None,
) -> CatchUp:
    """The notifications after `last_id` (or the user's own window if None), oldest first.

    `gap` is True when `last_id` was given but is no longer in the window: the client may have
    missed more than the window holds and should refresh from the inbox API. `live_from`: the
    connection's registration mark (FeedReads). With `since_ms`: the user's and rooms' entries
    written since then (a connected client's resync, resync.py).
    """
    window_start = now_ms() - window_s * 1000
    marks = in_flight_command(keys, user_id)
    own = reads.user_feed(keys.user_feed(user_id), window_start, max_entries, marks)
    shared: list[asyncio.Future[FeedRead]] = []
    if last_id is not None or since_ms is not None:
        shared = [reads.room_feed(keys.room_feed(r), window_start, max_entries, live_from) for r in rooms]
    # Room replies are shielded: they may be shared, and one waiter giving up must not cancel
    # them for all. The user's own reply is its alone.
    feeds = [await own, *[await asyncio.shield(reply) for reply in shared]]
    # Reads cover the whole window (a shared reply must serve every reader); entries before a
    # resync's `since_ms` are dropped here.
    oldest = window_start if since_ms is None else max(window_start, since_ms)
    now = now_ms()
    cut = _cut(feeds, last_id, oldest)
    in_flight = feeds[0].in_flight
    if last_id is not None and cut is None:
        return CatchUp(_merge(feeds, None, oldest, now, max_entries), True, in_flight)
    return CatchUp(_merge(feeds, cut, oldest, now, max_entries), False, in_flight)


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
