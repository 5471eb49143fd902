"""Router audiences and policy through real gateway nodes, router and HTTP API processes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from devstack.fleet import DEV_SERVICE_TOKEN, Fleet, dev_token
from notify_common.keys import Keys
from notify_common.redis_conn import connect

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def client_of(
    http: aiohttp.ClientSession, fleet: Fleet, node: str, user_id: str, roles: list[str] | None = None
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    headers = {"Authorization": f"Bearer {dev_token(user_id, roles=roles)}"}
    async with http.ws_connect(fleet.gateway_url(node), headers=headers) as ws:
        hello = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        assert hello["type"] == "hello"
        yield ws


async def notifications(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> list[str]:
    """Ids of the notifications received until `timeout` passes with nothing new."""
    ids: list[str] = []
    while True:
        try:
            msg = await asyncio.wait_for(ws.receive(), timeout)
        except TimeoutError:
            return ids
        frame = json.loads(msg.data)
        if frame.get("type") == "notification":
            ids.append(frame["notification"]["id"])
            timeout = min(timeout, 1.0)


async def until_notification(
    ws: aiohttp.ClientWebSocketResponse, wanted: str, timeout: float = 10.0
) -> list[str]:
    """Ids received up to and including `wanted` (fails after `timeout`)."""
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    while wanted not in ids:
        msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
        frame = json.loads(msg.data)
        if frame.get("type") == "notification":
            ids.append(frame["notification"]["id"])
    return ids


async def publish(http: aiohttp.ClientSession, fleet: Fleet, event: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {DEV_SERVICE_TOKEN}"}
    async with http.post(f"{fleet.router_url()}/v1/events", json=event, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


async def test_role_broadcast_reaches_members_on_every_node_and_nobody_else(fleet: Fleet) -> None:
    role = unique("driver")
    async with (
        aiohttp.ClientSession() as http,
        client_of(http, fleet, "gateway-1", unique("d"), [role]) as d1,
        client_of(http, fleet, "gateway-2", unique("d"), [role]) as d2,
        client_of(http, fleet, "gateway-2", unique("c"), ["customer"]) as other,
    ):
        sent = await publish(
            http, fleet, {"id": unique("b"), "type": "jobs.new", "audience": {"kind": "role", "role": role}}
        )
        assert await until_notification(d1, sent["id"]) == [sent["id"]]
        assert await until_notification(d2, sent["id"]) == [sent["id"]]
        assert sent["id"] not in await notifications(other, timeout=1.0)


async def test_http_published_list_reaches_each_user_once_across_nodes(fleet: Fleet) -> None:
    a, b = unique("a"), unique("b")
    async with (
        aiohttp.ClientSession() as http,
        client_of(http, fleet, "gateway-1", a) as wa,
        client_of(http, fleet, "gateway-2", b) as wb,
    ):
        event = {"id": unique("list"), "type": "t", "audience": {"kind": "users", "ids": [a, b, "offline-x"]}}
        sent = await publish(http, fleet, event)
        await publish(http, fleet, event)  # published twice: still once per recipient
        assert await notifications(wa, timeout=5.0) == [sent["id"]]
        assert await notifications(wb, timeout=5.0) == [sent["id"]]


async def test_geo_audience_reaches_the_driver_who_reported_a_nearby_position(fleet: Fleet) -> None:
    near, far = unique("near"), unique("far")
    async with (
        aiohttp.ClientSession() as http,
        client_of(http, fleet, "gateway-1", near, ["driver"]) as wn,
        client_of(http, fleet, "gateway-2", far, ["driver"]) as wf,
    ):
        await wn.send_json({"type": "location", "lat": 52.5200, "lon": 13.4050})
        await wf.send_json({"type": "location", "lat": 48.1351, "lon": 11.5820})
        client = connect(fleet.redis_url)
        keys = Keys(fleet.key_prefix)
        deadline = time.monotonic() + 10
        while await client.zscore(keys.location_seen("driver"), far) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await client.aclose()
        geo = {"kind": "geo", "role": "driver", "lat": 52.52, "lon": 13.40, "radius_m": 2000}
        sent = await publish(http, fleet, {"id": unique("g"), "type": "job.nearby", "audience": geo})
        assert await until_notification(wn, sent["id"]) == [sent["id"]]
        assert sent["id"] not in await notifications(wf, timeout=1.0)


async def test_muted_category_is_not_delivered_and_other_categories_are(fleet: Fleet) -> None:
    user_id = unique("m")
    auth = {"Authorization": f"Bearer {dev_token(user_id)}"}
    async with aiohttp.ClientSession() as http, client_of(http, fleet, "gateway-1", user_id) as ws:
        prefs = {"muted_categories": ["promo"]}
        async with http.put(f"{fleet.router_url()}/v1/preferences", json=prefs, headers=auth) as resp:
            assert resp.status == 200
        audience = {"kind": "users", "ids": [user_id]}
        await publish(
            http, fleet, {"id": unique("p"), "type": "t", "category": "promo", "audience": audience}
        )
        kept = await publish(
            http, fleet, {"id": unique("o"), "type": "t", "category": "orders", "audience": audience}
        )
        assert await until_notification(ws, kept["id"]) == [kept["id"]]


async def test_transient_signal_reaches_online_clients_and_leaves_no_catch_up_feed(fleet: Fleet) -> None:
    user_id = unique("t")
    async with aiohttp.ClientSession() as http, client_of(http, fleet, "gateway-2", user_id) as ws:
        event = {"id": unique("refresh"), "type": "refresh", "transient": True, "data": {"scope": "trips"}}
        sent = await publish(http, fleet, {**event, "audience": {"kind": "users", "ids": [user_id]}})
        assert await until_notification(ws, sent["id"]) == [sent["id"]]
    client = connect(fleet.redis_url)
    assert await client.xlen(Keys(fleet.key_prefix).user_feed(user_id)) == 0
    await client.aclose()


async def test_scheduled_event_arrives_not_before_its_time_and_expired_one_never(fleet: Fleet) -> None:
    user_id = unique("s")
    audience = {"kind": "users", "ids": [user_id]}
    async with aiohttp.ClientSession() as http, client_of(http, fleet, "gateway-1", user_id) as ws:
        due = time.time() + 1.5
        at = datetime.datetime.fromtimestamp(due, datetime.UTC).isoformat()
        gone = datetime.datetime.fromtimestamp(time.time() - 60, datetime.UTC).isoformat()
        await publish(http, fleet, {"id": unique("x"), "type": "t", "expires_at": gone, "audience": audience})
        sent = await publish(
            http, fleet, {"id": unique("later"), "type": "t", "deliver_at": at, "audience": audience}
        )
        assert await until_notification(ws, sent["id"], timeout=15) == [sent["id"]]
        assert time.time() >= due
