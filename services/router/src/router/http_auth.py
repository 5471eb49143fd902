"""Authentication of the router's HTTP API: service tokens for publishing, user JWTs for preferences."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from notify_common.http_auth import bearer_token, require_token, unauthorized
from notify_common.jwt_auth import AuthError, JwksCache, JwtSettings, Principal, verify_token_async

from router import metrics


def require_service(request: web.Request, tokens: Sequence[str]) -> None:
    """Raise 401 unless the request carries one of the service tokens."""
    if not tokens:
        metrics.HTTP_REJECTED.labels(reason="unauthorized").inc()
        raise unauthorized("publishing over HTTP is disabled: set SERVICE_TOKENS on the router")
    try:
        require_token(request, tokens, "service token")
    except web.HTTPUnauthorized:
        # A publisher whose token was rotated away shows up here before anyone reads the logs.
        metrics.HTTP_REJECTED.labels(reason="unauthorized").inc()
        raise


async def require_user(request: web.Request, settings: JwtSettings, jwks: JwksCache | None) -> Principal:
    """The user of a valid JWT, or 401 with the reason."""
    token = bearer_token(request.headers)
    if not token:
        raise unauthorized("Authorization: Bearer <user JWT> required")
    try:
        return await verify_token_async(token, settings, jwks)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
