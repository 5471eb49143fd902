"""Authentication of the router's HTTP API: service tokens for publishing, user JWTs for preferences."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web
from notify_common.jwt_auth import AuthError, JwksCache, JwtSettings, Principal, verify_token_async

from router import metrics


def bearer(request: web.Request) -> str:
    """The token of an `Authorization: Bearer <token>` header ("" when absent)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=f'{{"error": "{reason}"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )


def service_token_ok(given: str, tokens: Sequence[str]) -> bool:
    """Constant-time match against every configured token (no early exit reveals which one)."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched and bool(given)


def require_service(request: web.Request, tokens: Sequence[str]) -> None:
    """Raise 401 unless the request carries one of the service tokens."""
    if not tokens:
        metrics.HTTP_REJECTED.labels(reason="unauthorized").inc()
        raise unauthorized("publishing over HTTP is disabled: no SERVICE_TOKENS configured")
    if not service_token_ok(bearer(request), tokens):
        # A publisher whose token was rotated away shows up here before anyone reads the logs.
        metrics.HTTP_REJECTED.labels(reason="unauthorized").inc()
        raise unauthorized("missing or invalid service token")


async def require_user(request: web.Request, settings: JwtSettings, jwks: JwksCache | None) -> Principal:
    """The user of a valid JWT, or 401 with the reason."""
    token = bearer(request)
    if not token:
        raise unauthorized("missing token: send Authorization: Bearer <jwt>")
    try:
        return await verify_token_async(token, settings, jwks)
    except AuthError as exc:
        raise unauthorized(str(exc).replace('"', "'")) from None
