"""Who may connect: origin allow-list, token from header, query or first `auth` frame."""

from __future__ import annotations

import msgspec
from aiohttp import web
from notify_common.http_auth import bearer_token, json_response
from notify_common.jwt_auth import Principal, verify_token_async

from gateway.frames import Auth, client_frame_decoder
from gateway.node import Node
from gateway.ws_protocol import WebSocket

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


def refuse_http(status: int, reason: str) -> web.Response:
    """A refusal before the upgrade (browsers cannot read close codes of failed handshakes)."""
    return json_response({"error": reason}, status)
