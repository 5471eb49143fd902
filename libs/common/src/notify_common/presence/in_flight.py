"""Routings in flight per user: what closes the race between a router's presence read and a
reconnecting client's catch-up.

A router reads a user's presence and writes the user's feed and node deliveries one round trip
later. A client that registers on a node in between is not in what the router read, so the
delivery goes to the nodes it had (perhaps one that just died), and if the client's catch-up read
also came before the feed write, it missed the entry too: nobody delivers it. So the router's
presence read marks the user in the same script (a token scored by a deadline), and its writes
remove the mark after the feed entry, on the same slot. A catch-up reads the marks before the
feed: a mark it finds is a routing that may have missed the new registration; the catch-up waits
until the mark is gone (or its deadline has passed: that router died, and its batch is redone
from a fresh read) and reads the feed again. A mark it does not find was either removed after its
feed write, which the catch-up's read then sees, or made after the registration, so that routing
saw the new node.

Room audiences have the same race with a node's own start: a broadcast's deliveries go to the
live nodes the routing read, so a node announced after that read gets none, and its first
clients' catch-ups may read the room feed before the routing writes it. A user's marks do not
cover it (a room has no recipient to mark), so a routing of a room audience also marks the room
routings set, next to the live nodes on the same slot, keeping each router's latest deadline.
A node announced alive reads that set and takes no client before the latest deadline in it
(`room_routings_until`): every routing that read the live nodes without it has written by then
or given up (its batch is redone from a fresh read, which sees the node). It waits the whole
deadline, a routing's timeout: a router's marks are not removed one by one, as on a cluster the
mark (the live nodes' slot) could be removed before the room feed write (another slot) landed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis_async

from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.redis_line import Command

WRITE_SLACK_MS = 1000
"""How long past its own timeout a routing's deferred write may still arrive (the consumer sends
it with its next read, at once): part of a mark's deadline."""


@dataclass(frozen=True, slots=True)
class RoutingMark:
    """One routing attempt's mark: unique token, the deadline it must write by."""

    token: str
    deadline_ms: int
    ttl_ms: int


def routing_mark(token: str, timeout_s: float) -> RoutingMark:
    """A mark for a routing that gives up after `timeout_s`."""
    ttl_ms = int(timeout_s * 1000) + WRITE_SLACK_MS
    return RoutingMark(token, now_ms() + ttl_ms, ttl_ms)


def release_command(keys: Keys, user_id: str, mark: RoutingMark) -> Command:
    """Remove the mark: sent after the user's feed entry, on the same slot."""
    return ("ZREM", keys.routing_marks(user_id), mark.token)


def in_flight_command(keys: Keys, user_id: str) -> Command:
    """The marks still within their deadline (token, deadline), read before the user's feed."""
    return ("ZRANGEBYSCORE", keys.routing_marks(user_id), now_ms(), "+inf", "WITHSCORES")


def in_flight_from(reply: list[Any]) -> dict[bytes, int]:
    """token -> deadline from the raw reply to `in_flight_command` (flat as RESP2 gives it, or
    pairs as RESP3 does)."""
    pairs = (
        reply if reply and isinstance(reply[0], list | tuple) else zip(reply[::2], reply[1::2], strict=True)
    )
    return {token: int(float(score)) for token, score in pairs}


async def wait_released(client: redis_async.Redis, keys: Keys, user_id: str, marks: dict[bytes, int]) -> None:
    """Return once each of `marks` is removed or past its deadline (polled, backing off)."""
    key = keys.routing_marks(user_id)
    pending = dict(marks)
    delay = 0.005
    while True:
        now = now_ms()
        pending = {token: deadline for token, deadline in pending.items() if deadline > now}
        if not pending:
            return
        scores = await client.zmscore(key, list(pending))
        pending = {t: d for (t, d), score in zip(pending.items(), scores, strict=True) if score is not None}
        if not pending:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def room_routing_command(keys: Keys, router: str, mark: RoutingMark) -> Command:
    """`router`'s mark of a routing of a room audience, sent just before its live-node read
    (the same slot, in order): the set keeps each router's latest deadline."""
    return ("ZADD", keys.room_routings, "GT", mark.deadline_ms, router)


async def room_routings_until(client: redis_async.Redis, keys: Keys) -> int:
    """The latest deadline (unix ms) of the room routings marked so far, 0 when none is still
    within it; the marks of routers past their deadline are dropped on the way."""
    pipe = client.pipeline(transaction=False)
    pipe.zremrangebyscore(keys.room_routings, "-inf", now_ms())
    pipe.zrange(keys.room_routings, -1, -1, withscores=True)
    _, latest = await pipe.execute()
    return int(latest[0][1]) if latest else 0


async def wait_room_routings(client: redis_async.Redis, keys: Keys) -> None:
    """Return once every room routing marked before the call is past its deadline."""
    until = await room_routings_until(client, keys)
    if until > now_ms():
        await asyncio.sleep((until - now_ms()) / 1000)
