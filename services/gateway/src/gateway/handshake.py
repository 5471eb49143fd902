"""Who may connect: origin allow-list, token from header, query or first `auth` frame."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web
from notify_common.http_auth import bearer_token, json_response
from notify_common.jwt_auth import Principal, verify_token_async

from gateway.frames import Auth, client_frame_decoder
from gateway.node import Node
from gateway.ws_protocol import WebSocket

NODE_STARTING = "node starting: connect to another node or retry in a few seconds"
MISSING_TOKEN = "missing token: send Authorization: Bearer <jwt>, ?token=<jwt> or an auth frame first"


def origin_allowed(node: Node, request: web.Request) -> bool:
    """Browsers send Origin; other clients may not. An empty allow-list allows every origin."""
    origin = request.headers.get("Origin")
    return origin is None or not node.cfg.allowed_origins or origin in node.cfg.allowed_origins


def token_from(request: web.Request) -> str | None:
    return bearer_token(request.headers) or request.query.get("token")


def topics_from(request: web.Request) -> list[str]:
    return [t for t in request.query.get("topics", "").split(",") if t]


async def first_auth_frame(node: Node, ws: WebSocket) -> Auth | None:
    """The `auth` frame a browser sends first (it cannot set headers), or None."""
    message = await ws.receive(node.cfg.auth_timeout_s)
    if not isinstance(message, str):
        return None
    try:
        frame = client_frame_decoder.decode(message)
    except msgspec.DecodeError:
        return None
    return frame if isinstance(frame, Auth) else None


async def authenticate(node: Node, token: str) -> Principal:
    """Verify the token; raise AuthError with a reason the developer can act on."""
    return await verify_token_async(token, node.jwt, node.jwks)


def refused_at_the_door(node: Node, request: web.Request) -> web.Response | None:
    """The refusal of a WebSocket or SSE request this node must not take (draining, origin)."""
    if node.draining:
        return refuse_http(503, "node shutting down: connect to another node")
    if not node.started():
        return refuse_http(503, NODE_STARTING)
    if not origin_allowed(node, request):
        return refuse_http(403, f"origin {request.headers.get('Origin')!r} is not allowed")
    return None


def limit_write_buffer(node: Node, request: web.Request) -> asyncio.Transport | None:
    """The request's transport, its write buffer set above the node's own send limit: aiohttp
    must never pause writes before that limit closes a slow client (a paused writer would make
    the fan-out wait for that one client)."""
    transport = request.transport
    if transport is not None:
        cfg = node.cfg
        transport.set_write_buffer_limits(high=cfg.send_buffer_bytes * 2 + 4 * cfg.max_frame_bytes)
    return transport


def refuse_http(status: int, reason: str) -> web.Response:
    """A refusal before the upgrade (browsers cannot read close codes of failed handshakes)."""
    return json_response({"error": reason}, status)
