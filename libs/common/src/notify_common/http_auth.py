"""Bearer tokens on the fleet's HTTP APIs: one parser, one constant-time match, one 401 answer.

Every 401 of the fleet is `{"error": "unauthorized", "detail": "<what is expected>"}` with
`WWW-Authenticate: Bearer`, so a caller learns which token to send; the detail never repeats
the token that was presented.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

import msgspec
from aiohttp import web


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header (scheme in any case); "" if none."""
    scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_matches(given: str, tokens: Iterable[str]) -> bool:
    """Constant-time match against every token (no early exit tells which); "" never matches."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched and bool(given)


def unauthorized(detail: str) -> web.HTTPUnauthorized:
    """The 401 to raise; `detail` says what to send (never the token that was presented)."""
    return web.HTTPUnauthorized(
        text=msgspec.json.encode({"error": "unauthorized", "detail": detail}).decode(),
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_token(request: web.Request, tokens: Iterable[str], name: str) -> None:
    """Raise a 401 unless the request carries one of `tokens`; `name` is what the caller should
    send, e.g. "service token" (the detail reads `Authorization: Bearer <service token> required`)."""
    given = bearer_token(request.headers)
    if not given:
        raise unauthorized(f"Authorization: Bearer <{name}> required")
    if not token_matches(given, tokens):
        raise unauthorized(f"{name} not accepted: send a valid one as Authorization: Bearer <{name}>")
