"""CORS for the HTTP APIs a browser calls (inbox, preferences, devices, SSE): one allow-list.

Origins match exactly (scheme, host and port, as the browser sends them). An empty list means no
cross-origin access at all: a page on another origin cannot read any answer. Credentials are
never allowed: every API takes a bearer token, not a cookie, so a page must hold the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import msgspec
from aiohttp import hdrs, web

ALLOWED_METHODS = "GET, POST, PUT, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID"
EXPOSED_HEADERS = "WWW-Authenticate, Retry-After"
MAX_AGE_S = 600
"""How long a browser may reuse a preflight answer (Chromium caps it at 7200)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_preflight(request: web.Request) -> bool:
    """A browser's CORS preflight: OPTIONS with Origin and Access-Control-Request-Method."""
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


def preflight_answer(origin: str, allowed: frozenset[str]) -> web.Response:
    """204 with what may be sent, or 403 (no CORS headers) for an origin not on the list."""
    if origin not in allowed:
        body = msgspec.json.encode({"error": f"origin {origin!r} is not allowed"})
        return web.Response(
            status=403, body=body, content_type="application/json", headers={hdrs.VARY: "Origin"}
        )
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_S),
            hdrs.VARY: "Origin",
        },
    )


def enable_cors(app: web.Application, origins: Iterable[str]) -> None:
    """Answer preflights and add CORS headers for `origins` on every route of `app`.

    Call before the app starts. Nothing is added when `origins` is empty.
    """
    allowed = frozenset(origins)
    if not allowed:
        return

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Outermost, before authentication: a preflight never carries the Authorization header.
        if is_preflight(request):
            return preflight_answer(request.headers[hdrs.ORIGIN], allowed)
        return await handler(request)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        # A signal, not a middleware: streaming answers (SSE) send their headers from the handler.
        if is_preflight(request):
            return
        response.headers.add(hdrs.VARY, "Origin")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in allowed:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS

    app.middlewares.insert(0, preflight)
    app.on_response_prepare.append(add_headers)
