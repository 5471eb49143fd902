"""CORS on the SSE endpoint: a page on an allowed origin can read the stream, others cannot."""

from __future__ import annotations

import aiohttp
from gwkit import GatewayFactory, make_token

PAGE = "http://127.0.0.1:8070"


async def test_sse_stream_to_an_allowed_origin_carries_cors_headers(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gateway = await gateway_factory(allowed_origins=[PAGE])
    url = gateway.http_url() + "?token=" + make_token("42")
    async with http.get(url, headers={"Origin": PAGE}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
        assert "Origin" in resp.headers["Vary"]
        assert b'"type":"hello"' in await resp.content.readline()


async def test_sse_preflight_is_answered_and_foreign_origins_are_refused(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gateway = await gateway_factory(allowed_origins=[PAGE])
    asking = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "last-event-id"}
    async with http.options(gateway.http_url(), headers={"Origin": PAGE, **asking}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
        assert "last-event-id" in resp.headers["Access-Control-Allow-Headers"].lower()
    async with http.options(gateway.http_url(), headers={"Origin": "http://evil.example", **asking}) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_sse_without_allowed_origins_sends_no_cors_headers(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gateway = await gateway_factory()
    url = gateway.http_url() + "?token=" + make_token("42")
    async with http.get(url, headers={"Origin": PAGE}) as resp:
        # The stream is served (the WebSocket/SSE origin check allows any origin when the list is
        # empty) but a browser may not read it: no CORS header.
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
