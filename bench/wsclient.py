"""A minimal WebSocket client protocol for the load generator (RFC 6455, text frames only).

Why not aiohttp's client: every received message there costs a queue hop and a task wake-up
(~17 µs of CPU per frame here), so two worker processes spent more CPU absorbing a broadcast
than the gateways spent sending it. This protocol parses every frame that arrived in one read
inside `data_received` and hands each payload to a callback: no task per connection, no queue.
It speaks only what the gateway sends: unfragmented text frames, ping, close; no extensions.

`dial` connects it over a bare non-blocking socket read by the loop's reader callback, without
`loop.create_connection` (its coroutine, address checks, waiter future and transport cost more
CPU than the upgrade itself: in the S8 storm the load generator shares the gateways' two cores).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA

OnText = Callable[[bytes, int], None]
"""Called with each text payload and the wall-clock ns at which its read completed."""


def _masked_frame(opcode: int, payload: bytes = b"") -> bytes:
    """Client frames must be masked (RFC 6455 5.3); only short control frames are sent."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


class WsClient(asyncio.Protocol):
    """One client connection: HTTP upgrade, then frames parsed straight from the socket."""

    def __init__(self, host: str, path: str, token: str, on_text: OnText) -> None:
        self.request_head = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n"
        )
        self.key = base64.b64encode(os.urandom(16))
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        loop = asyncio.get_running_loop()
        self.first_text: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        """The code of the server's close frame (None: we closed, or no close frame came)."""
        self.close_reason = ""
        self.closed_by_us = False
        self.dialed_at = 0.0
        """time.monotonic() when `dial` started connecting (0.0: not dialled)."""
        self.dialing: socket.socket | None = None
        """The socket `dial` is waiting on to connect (`close` drops it)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        head = self.request_head + f"Sec-WebSocket-Key: {self.key.decode()}\r\n\r\n"
        transport.write(head.encode())

    def data_received(self, data: bytes) -> None:
        now_ns = time.time_ns()
        self.buffer += data
        if not self.upgraded and not self._finish_upgrade():
            return
        self._parse_frames(now_ns)

    def _finish_upgrade(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self.key + _GUID).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            self._fail(ConnectionError(f"upgrade refused: {head.splitlines()[0] if head else 'empty'}"))
            return False
        self.upgraded = True
        return True

    def _parse_frames(self, now_ns: int) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
            start = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            self._on_frame(opcode, payload, now_ns)

    def _on_frame(self, opcode: int, payload: bytes, now_ns: int) -> None:
        if opcode == OP_TEXT:
            if not self.first_text.done():
                self.first_text.set_result(payload)
            else:
                self.on_text(payload, now_ns)
        elif opcode == OP_PING:
            self._send(_masked_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            if not self.closed_by_us and len(payload) >= 2:
                self.close_code = int.from_bytes(payload[:2], "big")
                self.close_reason = payload[2:].decode("utf-8", "replace")
            self._send(_masked_frame(OP_CLOSE, payload[:2]))
            if self.transport is not None:
                self.transport.close()

    def _send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _fail(self, exc: BaseException) -> None:
        if not self.first_text.done():
            self.first_text.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Send a normal close (1000) and drop the connection (or the connect under way)."""
        self.closed_by_us = True
        if self.dialing is not None:
            sock, self.dialing = self.dialing, None
            asyncio.get_running_loop().remove_writer(sock.fileno())
            sock.close()
            self.connection_lost(ConnectionAbortedError("closed while connecting"))
            return
        self._send(_masked_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first_text.done():
            self.first_text.set_exception(exc or ConnectionError("closed before the first frame"))
        if not self.closed.done():
            self.closed.set_result(None)


class SocketLink(asyncio.Transport):
    """What `WsClient` needs of a transport (write, close, is_closing) over a connected
    non-blocking socket. The client writes only its upgrade request and short control frames to
    a socket whose send buffer is empty or nearly so: a write the kernel does not take whole
    means the peer stopped reading, and the connection is dropped."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._closing = False

    def start(self) -> None:
        self._protocol.connection_made(self)
        if not self._closing:
            self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        if not data:
            self._lose(None)
            return
        self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lose(exc)
            return
        if sent < len(data):
            self._lose(ConnectionError("send buffer full"))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._lose(None)

    def abort(self) -> None:
        self._lose(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sock if name == "socket" else default

    def _lose(self, exc: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        # as asyncio's transports do: the protocol hears of it on the next loop iteration
        self._loop.call_soon(self._protocol.connection_lost, exc)


def dial(client: WsClient, host: str, port: int, local_host: str | None = None) -> None:
    """Connect `client` to a numeric `host` without a coroutine; a connect that fails reaches it
    as `connection_lost(exc)` (its `first_text` raises). `client.dialed_at` is set here."""
    loop = asyncio.get_running_loop()
    client.dialed_at = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if local_host:
            sock.bind((local_host, 0))
        err = sock.connect_ex((host, port))
    except OSError as exc:
        sock.close()
        loop.call_soon(client.connection_lost, exc)
        return
    if err == errno.EINPROGRESS and _established(sock):
        err = 0  # over loopback the handshake is done within connect(): no wait for writability
    if err == 0:
        SocketLink(loop, sock, client).start()
    elif err == errno.EINPROGRESS:
        client.dialing = sock
        loop.add_writer(sock.fileno(), _connected, loop, sock, client)
    else:
        sock.close()
        loop.call_soon(client.connection_lost, ConnectionRefusedError(err, os.strerror(err)))


def _established(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def _connected(loop: asyncio.AbstractEventLoop, sock: socket.socket, client: WsClient) -> None:
    loop.remove_writer(sock.fileno())
    client.dialing = None
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        sock.close()
        client.connection_lost(ConnectionRefusedError(err, os.strerror(err)))
        return
    SocketLink(loop, sock, client).start()
