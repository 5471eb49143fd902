"""The edge of every HTTP API of the fleet (gateway, router, push-worker, history, ops).

Bearer tokens: one parser (the scheme in any case, RFC 7235), one constant-time match, one 401
answer. Every 401 is `{"error": "unauthorized", "detail": "<what is expected>"}` with
`WWW-Authenticate: Bearer`, so a caller learns which token to send; the detail never repeats
the token that was presented. User JWTs: `require_user`, or the `user_jwt` middleware that
leaves the user in `request[PRINCIPAL]`. Errors: `{"error": "<what to fix>"}` as JSON.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from notify_common.jwt_auth import AuthError, JwksCache, JwtSettings, Principal, verify_token_async

PRINCIPAL = web.RequestKey("principal", Principal)
"""The user of a request the `user_jwt` middleware let through."""

_ERRORS: dict[int, type[web.HTTPError]] = {
    cls.status_code: cls
    for cls in vars(web).values()
    if isinstance(cls, type) and issubclass(cls, web.HTTPError) and cls.status_code >= 400
}


def json_response(body: object, status: int = 200) -> web.Response:
    """`body` encoded as JSON (msgspec: Structs, dataclasses and plain values alike)."""
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


def json_error(status: int, message: str, **extra: object) -> web.HTTPError:
    """The error answer `{"error": message, ...extra}` with `status`, to raise (or return)."""
    return _ERRORS[status](
        text=msgspec.json.encode({"error": message, **extra}).decode(), content_type="application/json"
    )


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


async def require_user(request: web.Request, settings: JwtSettings, jwks: JwksCache | None) -> Principal:
    """The user of the request's valid `Authorization: Bearer <user JWT>`, or a 401 with the reason."""
    token = bearer_token(request.headers)
    if not token:
        raise unauthorized("Authorization: Bearer <user JWT> required")
    try:
        return await verify_token_async(token, settings, jwks)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None


def user_jwt(settings: JwtSettings, jwks: JwksCache | None, public_paths: Iterable[str] = ()) -> Middleware:
    """Middleware: every route but `public_paths` needs a user JWT; its user is `request[PRINCIPAL]`."""
    public = frozenset(public_paths)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in public:
            request[PRINCIPAL] = await require_user(request, settings, jwks)
        return await handler(request)

    return authenticate
