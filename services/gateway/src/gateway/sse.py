"""Server-Sent Events fallback: same auth, delivery and catch-up as the WebSocket, one way."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from aiohttp import web
from notify_common.http_auth import unauthorized
from notify_common.jwt_auth import AuthError
from redis.exceptions import RedisError

from gateway import session
from gateway.connection import CLOSE_TRY_LATER, TRY_LATER, Connection, close
from gateway.handshake import (
    authenticate,
    limit_write_buffer,
    refused_at_the_door,
    token_from,
    topics_from,
)
from gateway.node import Node

log = structlog.get_logger("gateway.sse")

POLL_S = 1.0
"""How often a stream checks that its client is still there (SSE has no reads to notice it)."""


async def events(node: Node, request: web.Request) -> web.StreamResponse:
    refused = refused_at_the_door(node, request)
    if refused is not None:
        return refused
    token = token_from(request)
    if token is None:
        raise unauthorized("Authorization: Bearer <user JWT> or ?token=<user JWT> required")
    try:
        principal = await authenticate(node, token)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
    cfg = node.cfg
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    transport = limit_write_buffer(node, request)
    # Browsers resend the last `id:` they saw as Last-Event-ID when EventSource reconnects.
    last_id = request.headers.get("Last-Event-ID") or request.query.get("last_id")
    conn = Connection(response, transport, principal, node.close_tasks)
    try:
        try:
            await session.start_session(node, conn, topics_from(request), last_id)
        except (RedisError, OSError) as exc:
            log.warning("session_start_failed", user_id=conn.user_id, error=repr(exc))
            await close(conn, CLOSE_TRY_LATER, TRY_LATER)
            return response
        quiet_since = time.monotonic()
        while not conn.closing and transport is not None and not transport.is_closing():
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(POLL_S)
            if time.monotonic() - quiet_since >= cfg.sse_keepalive_s:
                quiet_since = time.monotonic()
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await response.write(b": keep-alive\n\n")
    finally:
        await session.close_session(node, conn)
    return response
