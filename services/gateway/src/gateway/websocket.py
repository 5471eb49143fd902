"""The WebSocket endpoint: handshake, hello, catch-up, then client frames until the end.

aiohttp parses and routes the upgrade request (the Origin check and the token are ours); the
transport is then handed to a `WebSocket` (ws_protocol.py), which sends the 101 with the
session's opening frames, and aiohttp's request handler lets go of it, so an
open socket holds no request, task or coroutine of aiohttp's (bench/FINDINGS.md F12, F14). The
handler itself runs until the session is live (auth, presence, catch-up), then returns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib

import structlog
from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from notify_common.jwt_auth import AuthError
from redis.exceptions import RedisError

from gateway import client_frames, session
from gateway.connection import CLOSE_TRY_LATER, CLOSE_UNAUTHORIZED, TRY_LATER, Connection
from gateway.frames import error_frame
from gateway.handshake import (
    MISSING_TOKEN,
    authenticate,
    first_auth_frame,
    limit_write_buffer,
    refused_at_the_door,
    token_from,
    topics_from,
)
from gateway.node import Node
from gateway.ws_protocol import WebSocket

log = structlog.get_logger("gateway.websocket")

BINARY_REFUSED = error_frame("bad_frame", "send JSON text frames")

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455 section 1.3: hashed with the client's key into Sec-WebSocket-Accept."""


def accept_key(request: web.Request) -> str:
    """Check the upgrade request (as aiohttp's WebSocketResponse does, with its 400s); the
    Sec-WebSocket-Accept value. No extension or subprotocol is negotiated."""
    headers = request.headers
    if headers.get(hdrs.UPGRADE, "").lower().strip() != "websocket":
        raise web.HTTPBadRequest(
            text=f'No WebSocket UPGRADE hdr: {headers.get(hdrs.UPGRADE)}\n Can "Upgrade" only to "WebSocket".'
        )
    if "upgrade" not in {t.strip().lower() for t in headers.get(hdrs.CONNECTION, "").split(",")}:
        raise web.HTTPBadRequest(text=f"No CONNECTION upgrade hdr: {headers.get(hdrs.CONNECTION)}")
    version = headers.get(hdrs.SEC_WEBSOCKET_VERSION, "")
    if version not in ("13", "8", "7"):
        raise web.HTTPBadRequest(text=f"Unsupported version: {version}")
    key = headers.get(hdrs.SEC_WEBSOCKET_KEY)
    try:
        if not key or len(base64.b64decode(key)) != 16:
            raise web.HTTPBadRequest(text=f"Handshake error: {key!r}")
    except binascii.Error:
        raise web.HTTPBadRequest(text=f"Handshake error: {key!r}") from None
    return base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()


SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"


class TakenOver(web.StreamResponse):
    """What the handler returns to aiohttp once the socket is the gateway's: the 101 leaves with
    the session's opening frames, so aiohttp has nothing left to send."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def upgrade(request: web.Request, endpoint: WebSocketEndpoint) -> tuple[web.StreamResponse, WebSocket]:
    """Take the transport from aiohttp and queue the 101 in the socket's cork: it goes out in one
    write with hello and the catch-up (a write of its own through aiohttp's response was a tenth
    of a gateway's CPU in a reconnect storm). CORS headers do not apply to an upgrade."""
    head = SWITCHING + b"Sec-WebSocket-Accept: " + accept_key(request).encode() + b"\r\n\r\n"
    handler = request.protocol
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("connection lost during the upgrade")
    socket = WebSocket(transport, endpoint, endpoint.node.cfg.max_frame_bytes)
    # Only a client that stops reading altogether (a ping flood) stops being read from.
    limit_write_buffer(endpoint.node, request)
    transport.set_protocol(socket)
    # Bytes the client sent right after its upgrade request are kept by aiohttp's handler as the
    # "message tail". Two aiohttp internals are relied on here (that tail, and a handler that lets
    # go of a transport on connection_lost); aiohttp is pinned in uv.lock, and
    # services/gateway/tests/test_websocket_frames.py fails if an upgrade changes either.
    tail: bytes = handler._message_tail
    handler._message_tail = b""
    # The handler forgets the transport (so it does not close it) and ends its request loop
    # once this handler returns, as after a client hang-up: nothing of it stays with the socket.
    handler.transport = None
    handler.connection_lost(None)
    transport.resume_reading()  # aiohttp pauses it when the tail reaches its read buffer size
    socket.cork()
    assert socket.corked is not None
    socket.corked.append(head)
    if tail:
        socket.uncork()  # frames sent before the 101 was read (a pong) must follow it
        socket.data_received(tail)
    response = TakenOver(status=101)
    response.force_close()
    return response, socket


class WebSocketEndpoint:
    """`/ws`: one object per node, shared by all its sockets (they report their frames and their
    end here)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def handle(self, request: web.Request) -> web.StreamResponse:
        node = self.node
        refused = refused_at_the_door(node, request)
        if refused is not None:
            return refused
        token = token_from(request)
        last_id = request.query.get("last_id")
        topics = topics_from(request)
        response, socket = await upgrade(request, self)
        # aiohttp's server no longer knows this connection, so its shutdown would not wait for or
        # cancel this handler: the node's close tasks own it until the session is live.
        task = asyncio.current_task()
        if task is not None:
            node.close_tasks.add(task)
        node.opening.add(socket)
        try:
            await self._open(socket, token, last_id, topics)
        except BaseException:
            socket.abort()
            raise
        finally:
            node.opening.discard(socket)
            node.close_tasks.discard(task)
        return response

    async def _open(
        self, socket: WebSocket, token: str | None, last_id: str | None, topics: list[str]
    ) -> None:
        node = self.node
        if token is None:
            socket.uncork()  # the 101: the client sends its auth frame once it has it
            frame = await first_auth_frame(node, socket)
            if frame is None:
                await socket.close(CLOSE_UNAUTHORIZED, MISSING_TOKEN.encode())
                return
            token, last_id, topics = frame.token, frame.last_id or last_id, frame.topics or topics
        try:
            principal = await authenticate(node, token)
        except AuthError as exc:
            await socket.close(CLOSE_UNAUTHORIZED, str(exc).encode()[:123])
            return
        del token  # not kept with the socket
        conn = Connection(socket, socket.transport, principal, node.close_tasks)
        socket.conn = conn  # every read from now on is a sign of life (seen_at)
        live = False
        try:
            socket.cork()  # the 101 (unless sent already), hello, the catch-up and catchup.done: one write
            try:
                await session.start_session(node, conn, topics, last_id)
            except (RedisError, OSError) as exc:
                # Redis down or refusing writes (full): the session cannot start; say so, don't crash.
                log.warning("session_start_failed", user_id=conn.user_id, error=repr(exc))
                await socket.close(CLOSE_TRY_LATER, TRY_LATER.encode())
                return
            finally:
                socket.uncork()
            live = socket.go_live(conn)
            if live:
                # pinged once open: a ping written while the 101 waits in the cork would precede it
                node.pings.add(conn)
        finally:
            if not live:
                await self._end(conn)

    def received(self, socket: WebSocket) -> None:
        if socket.worker is None and socket.conn is not None:
            task = asyncio.get_running_loop().create_task(self._work(socket, socket.conn))
            socket.worker = task
            socket.conn.owner.add(task)
            task.add_done_callback(socket.conn.owner.discard)

    async def _work(self, socket: WebSocket, conn: Connection) -> None:
        """Answer the socket's client frames in order, until none is waiting."""
        node = self.node
        try:
            while not conn.closing and (message := socket.next_message()) is not None:
                if isinstance(message, str):
                    await client_frames.handle(node, conn, message)
                else:
                    await conn.send(BINARY_REFUSED, node.cfg.send_buffer_bytes)
        except (RedisError, OSError) as exc:
            log.warning("client_frame_failed", user_id=conn.user_id, error=repr(exc))
            conn.close_soon(CLOSE_TRY_LATER, TRY_LATER)
        except Exception:
            # A bug, not the client's doing: drop the connection as a crashed handler would.
            log.exception("client_frame_crashed", user_id=conn.user_id)
            socket.abort()
        finally:
            socket.worker = None

    def ended(self, socket: WebSocket) -> None:
        conn = socket.conn
        if conn is not None:
            conn.closing = True
            conn.spawn(self._end(conn))

    async def _end(self, conn: Connection) -> None:
        self.node.pings.discard(conn)
        await session.close_session(self.node, conn)
