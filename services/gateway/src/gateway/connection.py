"""One client connection (WebSocket or SSE): small per-connection state and bounded sending."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Coroutine
from typing import Any

import structlog
from aiohttp import web
from notify_common.jwt_auth import Principal
from notify_common.lifecycle import spawn_owned
from notify_common.rooms import ALL, role_room

from gateway.frames import control_frame
from gateway.ws_protocol import OP_TEXT, OPEN, WebSocket

log = structlog.get_logger("gateway.connection")

# Close codes (docs/protocol.md section 4).
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_SLOW = 4408
CLOSE_RATE_LIMITED = 4429

TRY_LATER = "service unavailable: reconnect later with last_id"
"""Reason of 1013 (and of SSE's 503): the node cannot reach or write to Redis right now."""


class Connection:
    """A socket held by this node. Slots keep an idle connection small; no task of its own."""

    __slots__ = (
        "bucket",
        "bucket_at",
        "buffer",
        "closing",
        "deadline",
        "owner",
        "ping_slot",
        "pinged_at",
        "principal",
        "response",
        "rooms",
        "seen_at",
        "sent_ids",
        "strikes",
        "topics",
        "tracked",
        "transport",
    )

    def __init__(
        self,
        response: WebSocket | web.StreamResponse,
        transport: asyncio.Transport | None,
        principal: Principal,
        owner: set[asyncio.Task[Any]],
    ) -> None:
        self.response = response
        self.owner = owner
        """The node's set of close tasks: awaited at shutdown, so none is fire-and-forget."""
        self.transport = transport
        self.principal = principal
        self.rooms = base_rooms(principal.roles)
        """Shared by every connection with the same roles; joining builds a new tuple."""
        self.topics: set[str] | None = None
        self.tracked: set[str] | None = None
        self.buffer: list[tuple[str, bytes]] | None = []
        """Live frames held back while catch-up is sent; None once live."""
        self.sent_ids: set[str] | None = None
        self.bucket = 0.0
        self.bucket_at = 0.0
        self.strikes = 0
        self.deadline = 0
        """The node's clock bucket of this token's next notice or expiry (pings.py); 0 = none."""
        self.closing = False
        self.seen_at = time.monotonic()
        """When the client last sent anything (a pong included): the ping wheel's liveness test."""
        self.pinged_at = 0.0
        self.ping_slot = 0

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    @property
    def is_sse(self) -> bool:
        return isinstance(self.response, web.StreamResponse)

    def buffered_bytes(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    async def send(self, frame: bytes, max_buffer: int, event_id: str = "") -> bool:
        """Send one frame; close the client instead if it stopped reading. False if not sent."""
        if self.closing:
            return False
        if self.transport is None or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > max_buffer:
            self.close_soon(CLOSE_SLOW, "client too slow: send buffer full, reconnect with last_id")
            return False
        try:
            response = self.response
            if isinstance(response, WebSocket):
                if response.state != OPEN:
                    return False
                response.send(OP_TEXT, frame)
            else:
                head = b"id: " + event_id.encode() + b"\n" if event_id else b""
                await response.write(head + b"data: " + frame + b"\n\n")
        except (ConnectionError, RuntimeError):
            return False
        return True

    def flush_opening(self) -> None:
        """Write the opening burst held so far (a WebSocket's 101, hello) now, before a wait the
        client must not spend with its handshake unanswered."""
        if isinstance(self.response, WebSocket):
            self.response.uncork()

    def allow_frame(self, rate_per_s: float, burst: int) -> bool:
        """Token bucket over client frames; refusals in a row count as strikes."""
        now = time.monotonic()
        if self.bucket_at == 0.0:
            self.bucket = float(burst)
        else:
            self.bucket = min(float(burst), self.bucket + (now - self.bucket_at) * rate_per_s)
        self.bucket_at = now
        if self.bucket >= 1.0:
            self.bucket -= 1.0
            self.strikes = 0
            return True
        self.strikes += 1
        return False

    def close_soon(self, code: int, reason: str) -> None:
        """Close from synchronous code (timers, fan-out); the close itself runs on the loop."""
        if self.closing:
            return
        self.closing = True
        log.info("connection_closed_by_server", user_id=self.user_id, code=code, reason=reason)
        self.spawn(close(self, code, reason))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` from a timer; the node owns the task and awaits it at shutdown."""
        spawn_owned(self.owner, work)

    async def hang_up(self, code: int, reason: str) -> bool:
        """Close a connection of another transport (Socket.IO overrides this); False: not one."""
        return False


def room_name(room: str) -> str:
    """Room names are interned: thousands of connections share one string per room."""
    return sys.intern(room)


@functools.lru_cache(maxsize=1024)
def base_rooms(roles: tuple[str, ...]) -> tuple[str, ...]:
    """The rooms every connection with these roles is in; one shared tuple per role set."""
    return tuple(room_name(r) for r in [*(role_room(role) for role in roles), ALL])


async def close(conn: Connection, code: int, reason: str) -> None:
    """Close with a code and a reason the developer can act on (SSE: a final `close` frame)."""
    conn.closing = True
    if await conn.hang_up(code, reason):
        return
    response = conn.response
    try:
        if isinstance(response, WebSocket):
            await response.close(code, reason.encode()[:123])
        else:
            await response.write(b"data: " + control_frame("close", code=code, reason=reason) + b"\n\n")
            if conn.transport is not None:
                conn.transport.close()
    except (ConnectionError, RuntimeError):
        pass
