"""What aiohttp keeps of the upgrade is let go of: this fails loudly if aiohttp moves what
request_release.py touches (its internals), and shows the socket still works afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gateway.request_release import release_upgrade


@pytest.fixture
async def echo_url() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen["before"] = (request.protocol._parser is not None, request._cache.get("query"))
        release_upgrade(request, ws)
        seen["after"] = ("query" in request._cache, dict(request.query))
        seen["parser"] = request.protocol._parser
        seen["response_headers"] = dict(ws.headers)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/ws?token=secret-token", seen
    finally:
        await runner.cleanup()


async def test_headers_query_and_parser_are_released_and_the_socket_still_works(
    http: aiohttp.ClientSession, echo_url: tuple[str, dict[str, Any]]
) -> None:
    url, seen = echo_url
    async with http.ws_connect(url, headers={"Authorization": "Bearer secret-token"}) as ws:
        await ws.send_str("still here")
        assert (await ws.receive(timeout=5)).data == "still here"
    assert seen["before"] == (True, None)  # the parser is there until released
    assert seen["after"] == (False, {"token": "secret-token"})  # the query, parsed again
    assert seen["parser"] is None
    assert seen["response_headers"] == {}
