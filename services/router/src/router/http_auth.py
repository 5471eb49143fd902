"""Authentication of the router's HTTP API: service tokens for publishing (user JWTs for
preferences: notify_common.http_auth.require_user)."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from notify_common.http_auth import require_token, unauthorized

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
