"""The WebSocket endpoint: handshake, hello, catch-up, then client frames until the end."""

from __future__ import annotations

import time

import structlog
from aiohttp import WSMsgType, web
from notify_common.jwt_auth import AuthError
from redis.exceptions import RedisError

from gateway import client_frames, session
from gateway.closing import ClosingHandshakeWebSocket
from gateway.connection import CLOSE_TOO_BIG, CLOSE_TRY_LATER, CLOSE_UNAUTHORIZED, TRY_LATER, Connection
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
from gateway.request_release import release_upgrade

log = structlog.get_logger("gateway.websocket")

# aiohttp cuts a frame over its limit off as soon as the header names the length, and its parser
# gives up on the connection; the close frame still arrives (closing.py keeps the socket until the
# client hangs up), but the client's own close cannot be read. So frames up to this many times
# MAX_FRAME_BYTES are read whole and refused here, with a complete closing handshake.
READ_WHOLE_FACTOR = 2


def too_big(data: str | bytes, limit: int) -> bool:
    """Whether a frame's payload is over `limit` bytes (text counts its UTF-8 bytes)."""
    if len(data) > limit:
        return True
    return isinstance(data, str) and len(data) * 4 > limit and len(data.encode()) > limit


async def websocket(node: Node, request: web.Request) -> web.StreamResponse:
    refused = refused_at_the_door(node, request)
    if refused is not None:
        return refused
    cfg = node.cfg
    # Pings come from the node's ping wheel (pings.py), not one aiohttp timer per connection;
    # so pongs must reach this handler (autoping off) and client pings are answered here.
    # Its close completes the closing handshake (closing.py); when this handler returns, aiohttp
    # closes the socket through it, so a close begun by another task finishes first.
    ws = ClosingHandshakeWebSocket(
        max_msg_size=cfg.max_frame_bytes * READ_WHOLE_FACTOR, autoping=False, compress=False
    )
    await ws.prepare(request)
    transport = limit_write_buffer(node, request)
    token = token_from(request)
    last_id = request.query.get("last_id")
    topics = topics_from(request)
    release_upgrade(request, ws)
    if token is None:
        frame = await first_auth_frame(node, ws)
        if frame is None:
            await ws.close(code=CLOSE_UNAUTHORIZED, message=MISSING_TOKEN.encode())
            return ws
        token, last_id, topics = frame.token, frame.last_id or last_id, frame.topics or topics
    try:
        principal = await authenticate(node, token)
    except AuthError as exc:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=str(exc).encode()[:123])
        return ws
    conn = Connection(ws, transport, principal, node.close_tasks)
    del token  # this frame lives as long as the socket: do not keep the JWT text with it
    node.pings.add(conn)
    try:
        try:
            await session.start_session(node, conn, topics, last_id)
        except (RedisError, OSError) as exc:
            # Redis down or refusing writes (full): the session cannot start; say so, don't crash.
            log.warning("session_start_failed", user_id=conn.user_id, error=repr(exc))
            await ws.close(code=CLOSE_TRY_LATER, message=TRY_LATER.encode())
            return ws
        async for msg in ws:
            conn.seen_at = time.monotonic()
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
                continue
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and too_big(msg.data, cfg.max_frame_bytes):
                await ws.close(code=CLOSE_TOO_BIG, message=b"frame too large")
                break
            if msg.type == WSMsgType.TEXT:
                await client_frames.handle(node, conn, msg.data)
            elif msg.type == WSMsgType.BINARY:
                await conn.send(error_frame("bad_frame", "send JSON text frames"), cfg.send_buffer_bytes)
    finally:
        node.pings.discard(conn)
        await session.close_session(node, conn)
    return ws
