"""Server-Sent Events fallback: same auth, catch-up and live delivery as the WebSocket."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from gwkit import RunningGateway, make_token
from notify_common.clock import now_ms
from notify_common.rooms import role_room
from notify_common.schemas import Notification, encode


async def events(resp: aiohttp.ClientResponse, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` events as (id, frame)."""
    found: list[tuple[str, dict[str, Any]]] = []
    event_id = ""
    while len(found) < count:
        line = (await resp.content.readline()).decode().rstrip("\n")
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            found.append((event_id, json.loads(line[6:])))
            event_id = ""
    return found


async def test_sse_without_token_is_refused_with_401(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    async with http.get(gateway.http_url()) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert await resp.json() == {
            "error": "unauthorized",
            "detail": "Authorization: Bearer <user JWT> or ?token=<user JWT> required",
        }


async def test_sse_with_expired_token_is_refused_with_the_reason(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    async with http.get(gateway.http_url(), params={"token": make_token("42", ttl_s=-120)}) as resp:
        assert (resp.status, await resp.json()) == (401, {"error": "unauthorized", "detail": "token expired"})


async def test_sse_streams_hello_catchup_marker_and_live_notifications(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    client = gateway.node.client
    for nid in ("n-1", "n-2"):
        n = Notification(id=nid, type="test", created_ms=now_ms())
        await client.xadd(gateway.keys.user_feed("42"), {b"n": encode(n)})
    headers = {"Authorization": f"Bearer {make_token('42', ['driver'])}", "Last-Event-ID": "n-1"}
    async with http.get(gateway.http_url(), headers=headers) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = await events(resp, 3)
        assert [f["type"] for _, f in first] == ["hello", "notification", "catchup.done"]
        assert first[1][0] == "n-2"
        await gateway.deliver("live-1", rooms=[role_room("driver")])
        [(event_id, frame)] = await events(resp, 1)
        assert (event_id, frame["notification"]["id"]) == ("live-1", "live-1")
