"""The node's one clock for its connections: WebSocket pings, spread evenly over time, and
token deadlines (the `token.expiring` notice, then the 4401 close), all from one task.

aiohttp's own heartbeat arms a timer per connection and rounds it up to the whole second, so
clients that connected together (a reconnect storm, a deploy, a load test) are pinged in the
same loop iteration every interval: thousands of sends at once, a stall of tens of milliseconds
every 30 s on every node. Here connections are dealt round-robin into the slots of a wheel that
turns once per half interval, one slot per TICK_S: each slot holds a few connections, whatever
their connect times. A visit pings a connection every other time (once per PING_INTERVAL_S) and,
on the visit after a ping, drops it if nothing came back (no pong, no frame) in half an interval.

The wheel follows the clock, not a count of wake-ups: a turn visits every slot whose time has
come. It wakes up as seldom as PING_BATCH allows (about that many visits a turn, at least a
tick apart, at least once a second): each wake-up of an idle process costs tens of microseconds of
CPU on its own (bench/FINDINGS.md F17), so a node with few sockets should not wake ten times a
second to ping none of them, and a busy one pings a slice of PING_BATCH at a time.

Token deadlines are kept in whole-second buckets (a set per second that has any), not in a timer
handle and two closures per connection (~700 bytes each, bench/FINDINGS.md F12): a deadline is
met up to one second late, never early, and the JWT leeway covers that second. A turn is never
later than the start of the next second that has a deadline bucket.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from notify_common.lifecycle import periodic

from gateway.connection import CLOSE_UNAUTHORIZED, Connection
from gateway.frames import control_frame
from gateway.ws_protocol import OPEN, WebSocket

if TYPE_CHECKING:
    from gateway.node import Node

TICK_S = 0.1
PING_BATCH = 512
"""Connections one turn visits at most (about half of them are pinged): ~2 ms of sends."""
PING_FRAME = b"\x89\x00"
"""A server ping: FIN + opcode 0x9, no payload, unmasked (RFC 6455 5.5.2)."""
DEADLINE_STEP_S = 1.0


class PingWheel:
    """Connections in `slots` buckets; `due()` returns the next bucket each tick."""

    def __init__(self, interval_s: float, tick_s: float = TICK_S, started: float | None = None) -> None:
        self.interval_s = interval_s
        self.tick_s = tick_s
        self.slots: list[set[Connection]] = [set() for _ in range(max(1, round(interval_s / 2 / tick_s)))]
        self._next_slot = 0
        self._position = 0
        self._turned_at = time.monotonic() if started is None else started
        """The time up to which slots have been visited (a whole number of ticks)."""
        self.size = 0
        self.deadlines: dict[int, set[Connection]] = {}
        """Deadline bucket (unix seconds, rounded up) -> connections with a token action then."""
        self._deadlines_done = math.floor(time.time() / DEADLINE_STEP_S)

    def add(self, conn: Connection) -> None:
        conn.ping_slot = self._next_slot
        slot = self.slots[self._next_slot]
        if conn not in slot:
            slot.add(conn)
            self.size += 1
        self._next_slot = (self._next_slot + 1) % len(self.slots)

    def discard(self, conn: Connection) -> None:
        slot = self.slots[conn.ping_slot]
        if conn in slot:
            slot.remove(conn)
            self.size -= 1
        self.clear_deadline(conn)

    def set_deadline(self, conn: Connection, at: float) -> None:
        """Hand `conn` to `token_due` at unix time `at` (replacing its previous deadline)."""
        self.clear_deadline(conn)
        bucket = max(math.ceil(at / DEADLINE_STEP_S), self._deadlines_done + 1)
        conn.deadline = bucket
        self.deadlines.setdefault(bucket, set()).add(conn)

    def clear_deadline(self, conn: Connection) -> None:
        if conn.deadline:
            bucket = self.deadlines.get(conn.deadline)
            if bucket is not None:
                bucket.discard(conn)
                if not bucket:
                    del self.deadlines[conn.deadline]
            conn.deadline = 0

    def due_deadlines(self, now: float) -> list[Connection]:
        """The connections whose deadline has come by unix time `now`, forgotten here."""
        current = math.floor(now / DEADLINE_STEP_S)
        due: list[Connection] = []
        if self.deadlines:
            for bucket in range(self._deadlines_done + 1, current + 1):
                conns = self.deadlines.pop(bucket, None)
                if conns:
                    due.extend(conns)
        self._deadlines_done = max(self._deadlines_done, current)
        for conn in due:
            conn.deadline = 0
        return due

    def due(self, now: float) -> list[Connection]:
        """The connections of every slot whose time has come by monotonic `now` (one whole
        turn at most: a loop stalled longer than that does not visit anyone twice)."""
        slots = len(self.slots)
        steps = int((now - self._turned_at) / self.tick_s)
        if steps <= 0:
            return []
        self._turned_at += steps * self.tick_s
        due: list[Connection] = []
        for _ in range(min(steps, slots)):
            due.extend(self.slots[self._position])
            self._position = (self._position + 1) % slots
        return due

    def wait_s(self, wall_now: float) -> float:
        """Seconds until the next turn: about PING_BATCH visits from now, between one tick and
        one deadline step (a quarter interval if shorter: every ping still on time), and no
        later than the next second that has token deadlines."""
        visits_per_s = self.size / (len(self.slots) * self.tick_s)
        wait = PING_BATCH / visits_per_s if visits_per_s else DEADLINE_STEP_S
        wait = min(max(wait, self.tick_s), DEADLINE_STEP_S, self.interval_s / 4)
        next_bucket = math.floor(wall_now / DEADLINE_STEP_S) + 1
        if next_bucket in self.deadlines:
            wait = min(wait, next_bucket * DEADLINE_STEP_S - wall_now)
        return wait


def visit(conn: Connection, interval_s: float, now: float) -> None:
    """Drop `conn` if its last ping went unanswered; ping it if one interval has passed."""
    transport = conn.transport
    if conn.closing or transport is None or transport.is_closing():
        return
    if conn.pinged_at and conn.seen_at < conn.pinged_at:
        # dead or cut off: no close frame (it could not arrive), as the protocol documents
        transport.abort()
        return
    if now - conn.pinged_at >= interval_s * 0.9:  # every other visit, with some slack for lag
        conn.pinged_at = now
        response = conn.response
        if isinstance(response, WebSocket) and response.state == OPEN:
            # The same bytes for every socket, written as they are (every frame is one write).
            transport.write(PING_FRAME)


async def token_due(node: Node, conn: Connection, now: float) -> None:
    """Before expiry: send `token.expiring` and come back at expiry; after: close with 4401."""
    expires_at = conn.principal.expires_at
    if expires_at is None or conn.closing or conn.deadline:
        return  # no token deadline, closing, or re-armed by a fresh token since it came due
    close_at = expires_at + node.cfg.jwt_leeway_s
    if now < close_at:
        node.pings.set_deadline(conn, close_at)
        frame = control_frame("token.expiring", expires_ms=int(expires_at * 1000))
        await conn.send(frame, node.cfg.send_buffer_bytes)
    else:
        conn.close_soon(CLOSE_UNAUTHORIZED, "token expired: reconnect with a fresh token")


async def ping_loop(node: Node, stop: asyncio.Event) -> None:
    """Turn the node's wheel until `stop` is set."""
    wheel = node.pings

    async def turn() -> float:
        started = time.monotonic()
        for conn in wheel.due(started):
            visit(conn, wheel.interval_s, started)
        now = time.time()
        for conn in wheel.due_deadlines(now):
            await token_due(node, conn, now)
        return wheel.wait_s(time.time())

    await periodic("pings", turn, wheel.tick_s, stop)
