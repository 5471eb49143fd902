"""WebSocket pings for every connection of the node from one task, spread evenly over time.

aiohttp's own heartbeat arms a timer per connection and rounds it up to the whole second, so
clients that connected together (a reconnect storm, a deploy, a load test) are pinged in the
same loop iteration every interval: thousands of sends at once, a stall of tens of milliseconds
every 30 s on every node. Here connections are dealt round-robin into the slots of a wheel that
turns once per half interval, one slot per tick: each tick visits a few connections, whatever
their connect times. A visit pings a connection every other time (once per PING_INTERVAL_S) and,
on the visit after a ping, drops it if nothing came back (no pong, no frame) in half an interval.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.connection import Connection

if TYPE_CHECKING:
    from gateway.node import Node

TICK_S = 0.1


class PingWheel:
    """Connections in `slots` buckets; `due()` returns the next bucket each tick."""

    def __init__(self, interval_s: float, tick_s: float = TICK_S) -> None:
        self.interval_s = interval_s
        self.tick_s = tick_s
        self.slots: list[set[Connection]] = [set() for _ in range(max(1, round(interval_s / 2 / tick_s)))]
        self._next_slot = 0
        self._position = 0

    def add(self, conn: Connection) -> None:
        conn.ping_slot = self._next_slot
        self.slots[self._next_slot].add(conn)
        self._next_slot = (self._next_slot + 1) % len(self.slots)

    def discard(self, conn: Connection) -> None:
        self.slots[conn.ping_slot].discard(conn)

    def due(self) -> list[Connection]:
        """The connections to visit now (one slot), advancing the wheel."""
        bucket = self.slots[self._position]
        self._position = (self._position + 1) % len(self.slots)
        return list(bucket)


async def visit(conn: Connection, interval_s: float, now: float) -> None:
    """Drop `conn` if its last ping went unanswered; ping it if one interval has passed."""
    if conn.closing:
        return
    if conn.pinged_at and conn.seen_at < conn.pinged_at:
        # dead or cut off: no close frame (it could not arrive), as the protocol documents
        if conn.transport is not None:
            conn.transport.abort()
        return
    if now - conn.pinged_at >= interval_s * 0.9:  # every other visit, with some slack for lag
        conn.pinged_at = now
        response = conn.response
        if isinstance(response, web.WebSocketResponse):
            try:
                await response.ping()
            except (ConnectionError, RuntimeError):
                pass  # closing already: its handler cleans up


async def ping_loop(node: Node, stop: asyncio.Event) -> None:
    """Turn the node's wheel until `stop` is set."""
    wheel = node.pings
    while not stop.is_set():
        started = time.monotonic()
        for conn in wheel.due():
            await visit(conn, wheel.interval_s, started)
        await asyncio.sleep(max(0.0, wheel.tick_s - (time.monotonic() - started)))
