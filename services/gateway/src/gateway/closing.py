"""The WebSocket closing handshake, completed whatever the client is still sending.

A client library notices a close only when its reader gets to the close frame; until then it
keeps writing. If the server drops the TCP connection while the client's frames sit unread in
the kernel, the kernel answers with a reset, which destroys the close frame in the client's
receive buffer: the client sees 1006 (network lost) instead of the code it must act on (4429
back off, 4401 new token, 1001 reconnect elsewhere). So the server sends its close frame, then
reads and discards until the client's close frame (or, if the frame parser gave up on garbage,
until the client hangs up), and only then closes the TCP connection; at most CLOSE_LINGER_S.

aiohttp's own `close()` reads for the client's close frame, but a close started from another
task (the rate limiter, the send buffer check, token expiry, the drain) returns the handler from
its read loop at once, and aiohttp closes the transport as soon as the handler returns: before
the client's close frame came. Here every later `close()` (the handler's, aiohttp's own after
the handler) waits for the one in progress. Two aiohttp internals are relied on (its closing
flag and its `_close_transport` step; aiohttp is pinned in uv.lock): tests/chaos and
services/gateway/tests/test_close_handshake.py fail if an upgrade changes them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import WebSocketError, WSMsgType, web

CLOSE_LINGER_S = 2.0
"""Longest wait for the client's close frame (or its hang-up) after the server's close frame."""

LINGER_POLL_S = 0.05
"""How often a lingering connection whose frame parser gave up checks that the client hung up."""


class ClosingHandshakeWebSocket(web.WebSocketResponse):
    """A WebSocketResponse whose close ends the TCP connection only after the closing handshake."""

    _closing_handshake: asyncio.Future[bool] | None = None
    """The close in progress; None until the first close (no cost for an open socket)."""
    _unparsable: asyncio.Transport | None = None
    """Set when the frame parser gave up: the transport kept open until the client hangs up."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(timeout=CLOSE_LINGER_S, **kwargs)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        """Close once; every other caller waits until that close has finished."""
        if self._closing_handshake is not None:
            await asyncio.shield(self._closing_handshake)
            return False
        self._closing_handshake = asyncio.get_running_loop().create_future()
        deadline = time.monotonic() + CLOSE_LINGER_S
        closed = True
        try:
            # Never drain: aiohttp's drain has no timeout, and the close frame of a client that
            # stopped reading waits behind its full send buffer. The read for the client's close
            # frame that follows is bounded (CLOSE_LINGER_S) and covers the frame's way out too.
            # No timeout of our own around it either: one that fires as the close completes
            # leaves a cancellation pending in the caller (the handler, mid presence write).
            closed = await super().close(code=code, message=message, drain=False)
            if self._unparsable is not None:
                await _until_hung_up(self._unparsable, deadline)
        finally:
            self._closing_handshake.set_result(closed)
        return closed

    async def receive(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (aiohttp's signature)
        msg = await super().receive(timeout)
        if msg.type is WSMsgType.CLOSING and self._closed:
            # A close from another task woke this read with aiohttp's marker; aiohttp would now
            # drop the socket without reading the client's close frame. Let that close read on.
            self._closing = False
        return msg

    def _close_transport(self) -> None:
        """aiohttp's last step of a close. If its frame parser gave up (a frame far over the size
        limit, a protocol error), the client's close frame can never be read; aiohttp's protocol
        discards what still arrives, so the socket is kept until the client hangs up."""
        transport = self._req.transport if self._req is not None else None
        if transport is None or not isinstance(self.exception(), WebSocketError):
            super()._close_transport()
            return
        transport.resume_reading()  # it may have been paused while frames queued up
        self._unparsable = transport


async def _until_hung_up(transport: asyncio.Transport, deadline: float) -> None:
    """Wait until the client hung up (the transport closes itself at end of input) or `deadline`."""
    try:
        # Polled: aiohttp's protocol owns the transport and offers nothing to await on hang-up.
        while not transport.is_closing() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(LINGER_POLL_S)
    finally:
        transport.close()
