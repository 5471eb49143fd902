"""A WebSocket after its upgrade: one small protocol object per socket, no task while idle.

aiohttp serves the upgrade (routing, CORS, the 101); websocket.py then hands the transport to a
`WebSocket` (RFC 6455 framing, server side, no extensions or subprotocols, as negotiated). Kept
on aiohttp's WebSocketResponse, an idle socket cost ~10.5 KB of request machinery: the parsed
request, two tasks, seven suspended coroutines, a reader, a writer and their queues
(bench/FINDINGS.md F12). Here frames are parsed in `data_received`, pings and pongs are answered
there, and client frames go to the endpoint, which runs them in order in a task that exists only
while there is work.

The closing handshake: a client library notices a close only when its reader gets to the close
frame, and keeps writing until then. If the server dropped the TCP connection with the client's
frames unread, the kernel would answer with a reset, destroying the close frame in the client's
receive buffer: the client would see 1006 (network lost) instead of the code it must act on (4429
back off, 4401 new token, 1001 reconnect elsewhere). So the server sends its close frame, reads
and discards until the client's close frame (after a framing error: until the client hangs up),
and only then closes the TCP connection; at most CLOSE_LINGER_S.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.connection import Connection

CLOSE_LINGER_S = 2.0
"""Longest wait for the client's close frame (or its hang-up) after the server's close frame."""

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_TEXT = 1007
CLOSE_TOO_BIG = 1009

SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

INBOX_PAUSE = 32
"""Client frames waiting for the endpoint before reading from the socket pauses."""

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

LONE_PONG = b"\x8a\x80"
"""The first two bytes of a client's pong to an empty ping: FIN + opcode 0xA, masked, no payload
(then its 4-byte mask key: 6 bytes in all). Most of what an idle socket ever receives."""

OPEN, CLOSING, FAILED, CLOSED = 0, 1, 2, 3
"""States: open; close frame sent (reading on for the client's); framing lost (waiting for the
client to hang up); TCP connection closed."""


class Endpoint(Protocol):
    """What a socket reports to; one object shared by every socket of the node."""

    def received(self, socket: WebSocket) -> None:
        """A client frame was added to `socket.inbox` while the socket is live."""

    def ended(self, socket: WebSocket) -> None:
        """The live socket began closing or lost its connection: end its session (once)."""


def frame_header(opcode: int, length: int) -> bytes:
    """A server frame's header: FIN, `opcode`, unmasked payload of `length` bytes."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def valid_close_code(payload: bytes) -> bool:
    """A code a client may send (RFC 6455 7.4: the defined ones, or 3000-4999)."""
    code = int.from_bytes(payload[:2], "big")
    return code in SENDABLE_CODES or 3000 <= code < 5000


def close_payload(code: int, reason: bytes) -> bytes:
    return code.to_bytes(2, "big") + reason[:123]


class WebSocket(asyncio.Protocol):
    """One upgraded socket; its frames in, its frames out, its closing handshake."""

    __slots__ = (
        "buf",
        "closer",
        "conn",
        "corked",
        "endpoint",
        "frag",
        "inbox",
        "linger",
        "live",
        "max_bytes",
        "paused",
        "skip",
        "state",
        "transport",
        "waiter",
        "worker",
    )

    def __init__(self, transport: asyncio.Transport, endpoint: Endpoint, max_bytes: int) -> None:
        self.transport = transport
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        """Largest message a client may send (text counts its UTF-8 bytes); larger: 1009."""
        self.conn: Connection | None = None
        """Set once authenticated: every read counts as a sign of life (`seen_at`, pings.py)."""
        self.live = False
        """Set once the handshake's handler hands the session over; cleared when it ends."""
        self.state = OPEN
        self.buf = b""
        """Bytes received and not parsed yet (an incomplete frame)."""
        self.skip = 0
        """Payload bytes still to discard (a frame refused while closing or over the limit)."""
        self.frag: list[bytes] | None = None
        """A fragmented message's parts so far, its opcode first as one byte."""
        self.inbox: list[str | bytes] | None = None
        """Client messages not yet handled: text as str, binary as bytes (None: none, the
        usual state, a list would cost 56 bytes per idle socket)."""
        self.worker: asyncio.Task[None] | None = None
        """The endpoint's task handling the inbox; None while there is nothing to do."""
        self.waiter: asyncio.Future[None] | None = None
        self.closer: asyncio.Future[None] | None = None
        """The close in progress; None until the first close."""
        self.linger: asyncio.TimerHandle | None = None
        self.paused = 0
        """Why reading is paused: 1 = inbox full, 2 = the client stopped reading our frames."""
        self.corked: list[bytes] | None = None
        """Frames held to go out in one write (the session's opening burst: hello, catch-up,
        catchup.done); None: every frame is written as it is sent."""

    # --- asyncio.Protocol -------------------------------------------------------------------
    def pause_writing(self) -> None:
        # A client that stops reading (a ping flood it does not read the pongs of) stops being
        # read from; a client reading normally is closed with 4408 by the send buffer check first.
        self._set_paused(2, True)

    def resume_writing(self) -> None:
        self._set_paused(2, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self.buf = b""
        self.frag = None
        self._finish_close()
        self._wake()
        self._end_session()

    def eof_received(self) -> bool:
        return False  # the transport closes itself: connection_lost follows

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.seen_at = time.monotonic()
            if len(data) == 6 and data[:2] == LONE_PONG and not (self.buf or self.skip):
                return  # the answer to a server ping, alone: its arrival is all it says (pings.py)
        if self.state >= FAILED:
            return
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        while end - pos >= 2 and self.state < FAILED:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if end - head < 2:
                    break
                length = int.from_bytes(buf[head : head + 2], "big")
                head += 2
            elif length == 127:
                if end - head < 8:
                    break
                length = int.from_bytes(buf[head : head + 8], "big")
                head += 8
            masked = b1 & 0x80
            start = head + 4 if masked else head
            opcode = b0 & 0x0F
            if not self._valid(b0, opcode, length):
                break
            if opcode < OP_CLOSE and (self.state != OPEN or self._too_big(length)):
                # refused or after our close frame: discard the payload as it arrives
                if self.state == OPEN:
                    self.begin_close(CLOSE_TOO_BIG, b"frame too large")
                if end - start < length:
                    self.skip = start + length - end  # the rest of its mask key too, if cut
                    pos = end
                    break
                pos = start + length
                continue
            if end - start < length:
                break
            payload = buf[start : start + length]
            if masked:
                payload = unmask(payload, buf[head:start])
            pos = start + length
            self._frame(b0 & 0x80, opcode, payload)
        self.buf = buf[pos:] if pos < end and self.state < FAILED else b""

    # --- frames in ----------------------------------------------------------------------------
    def _valid(self, b0: int, opcode: int, length: int) -> bool:
        if b0 & 0x70:
            return self._fail(CLOSE_PROTOCOL_ERROR, b"reserved bits set")  # no extension negotiated
        if opcode >= OP_CLOSE:
            if opcode > OP_PONG:
                return self._fail(CLOSE_PROTOCOL_ERROR, b"unknown opcode")
            if length > 125 or not b0 & 0x80:
                return self._fail(CLOSE_PROTOCOL_ERROR, b"control frame too long or fragmented")
            return True
        if opcode > OP_BINARY:
            return self._fail(CLOSE_PROTOCOL_ERROR, b"unknown opcode")
        if self.state == OPEN and (opcode == OP_CONTINUATION) != (self.frag is not None):
            return self._fail(CLOSE_PROTOCOL_ERROR, b"unexpected continuation or data frame")
        return True

    def _too_big(self, length: int) -> bool:
        if self.frag is not None:
            length += sum(len(part) for part in self.frag) - 1
        return length > self.max_bytes

    def _fail(self, code: int, reason: bytes) -> bool:
        """The framing cannot be trusted any more: close, then wait for the client to hang up."""
        if self.state == OPEN:
            self.begin_close(code, reason)
        if self.state < FAILED:
            self.state = FAILED
            self.buf = b""
            self.frag = None
        return False

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            if self.state == OPEN:
                self.transport.write(frame_header(OP_PONG, len(payload)) + payload)
        elif opcode == OP_CLOSE:
            self._closed_by_client(payload)
        elif opcode == OP_PONG:
            pass  # its arrival is what counts (seen_at)
        elif not fin:
            if self.frag is None:
                self.frag = [bytes((opcode,)), payload]
            else:
                self.frag.append(payload)
        else:
            if self.frag is not None:
                opcode = self.frag[0][0]
                payload = b"".join([*self.frag[1:], payload])
                self.frag = None
            if opcode == OP_BINARY:
                self._message(payload)
                return
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                self._fail(CLOSE_INVALID_TEXT, b"invalid UTF-8 text")
                return
            self._message(text)

    def _message(self, message: str | bytes) -> None:
        if self.inbox is None:
            self.inbox = [message]
        else:
            self.inbox.append(message)
        if len(self.inbox) >= INBOX_PAUSE:
            self._set_paused(1, True)
        if self.live:
            self.endpoint.received(self)
        else:
            self._wake()

    def _closed_by_client(self, payload: bytes) -> None:
        if self.state == OPEN:
            if len(payload) == 1 or (len(payload) > 1 and not valid_close_code(payload)):
                self._fail(CLOSE_PROTOCOL_ERROR, b"bad close frame")
                return
            # As aiohttp did: the client's close is answered with 1000, then the TCP close.
            self.begin_close(CLOSE_NORMAL, b"")
        self.hang_up()

    # --- the endpoint's side --------------------------------------------------------------------
    def next_message(self) -> str | bytes | None:
        """The oldest client message not handled yet; None if none (or the socket is closing)."""
        if not self.inbox or self.state != OPEN:
            return None
        message = self.inbox.pop(0)
        if not self.inbox:
            self.inbox = None
        if self.paused & 1 and len(self.inbox or ()) < INBOX_PAUSE // 2:
            self._set_paused(1, False)
        return message

    async def receive(self, timeout: float) -> str | bytes | None:  # noqa: ASYNC109
        """The next client message within `timeout` (before the socket is live); None if none."""
        deadline = time.monotonic() + timeout
        while self.state == OPEN and not self.inbox:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return None
            finally:
                self.waiter = None
        return self.next_message()

    def go_live(self, conn: Connection) -> bool:
        """Hand the session over: from now on the endpoint gets its frames and its end. False if
        the socket is closing already (the caller ends the session itself)."""
        self.conn = conn
        if self.state != OPEN:
            return False
        self.live = True
        if self.inbox:
            self.endpoint.received(self)
        return True

    def send(self, opcode: int, payload: bytes) -> None:
        if self.corked is not None:
            self.corked.append(frame_header(opcode, len(payload)) + payload)
        else:
            self.transport.write(frame_header(opcode, len(payload)) + payload)

    def cork(self) -> None:
        """Hold the frames sent from now on until `uncork` (one system call for a burst, where
        one write per frame was a fifth of a connect storm's CPU: bench/FINDINGS.md)."""
        if self.corked is None:
            self.corked = []

    def uncork(self) -> None:
        """Write the held frames at once, in order."""
        held, self.corked = self.corked, None
        if held and not self.transport.is_closing():
            self.transport.write(b"".join(held))

    # --- closing --------------------------------------------------------------------------------
    async def close(self, code: int, reason: bytes = b"") -> None:
        """Close once (send the close frame, linger for the client's); every caller waits for it."""
        self.begin_close(code, reason)
        if self.closer is not None:
            await asyncio.shield(self.closer)

    def begin_close(self, code: int, reason: bytes) -> None:
        """Send the close frame and read on for the client's (synchronous: from any callback)."""
        if self.state != OPEN:
            return
        self.state = CLOSING
        loop = asyncio.get_running_loop()
        self.closer = loop.create_future()
        self.linger = loop.call_later(CLOSE_LINGER_S, self.hang_up)
        if not self.transport.is_closing():
            # Never waits for the send buffer: a client that stopped reading still gets the
            # frame's way out for CLOSE_LINGER_S, then the TCP close.
            self.uncork()  # what was sent before the close goes out before it
            self.send(OP_CLOSE, close_payload(code, reason))
        self.inbox = None
        self.frag = None
        self._set_paused(2, False)  # read on for the client's close whatever it sends
        self._wake()
        self._end_session()

    def hang_up(self) -> None:
        """End the TCP connection (after the closing handshake, or its linger)."""
        self.transport.close()
        self._finish_close()

    def abort(self) -> None:
        self.transport.abort()
        self._finish_close()

    def _finish_close(self) -> None:
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None
        if self.closer is not None and not self.closer.done():
            self.closer.set_result(None)

    def _end_session(self) -> None:
        if self.live:
            self.live = False
            self.endpoint.ended(self)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _set_paused(self, reason: int, on: bool) -> None:
        was = self.paused
        self.paused = was | reason if on else was & ~reason
        if self.state >= CLOSING:
            self.paused = 0  # closing: read on whatever is queued or unread
        if bool(was) != bool(self.paused) and not self.transport.is_closing():
            if self.paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()
