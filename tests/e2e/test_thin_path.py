"""One event for user 42 travels XADD -> router -> the gateway holding 42's socket -> client."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from devstack.fleet import Fleet, dev_token
from devstack.polling import wait_until
from notify_client import ApiError, InboxApi, NotifyClient
from notify_common.publish import build_event, publish
from notify_common.redis_conn import connect

pytestmark = pytest.mark.e2e


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> dict[str, object]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)  # type: ignore[no-any-return]


async def test_event_reaches_the_socket_of_its_user_on_either_node(fleet: Fleet) -> None:
    client = connect(fleet.redis_url)
    async with aiohttp.ClientSession() as http:
        url = fleet.gateway_url("gateway-2")
        async with http.ws_connect(url, headers={"Authorization": f"Bearer {dev_token('42')}"}) as ws:
            hello = await receive_json(ws)
            assert hello == {"type": "hello", "user_id": "42", "node": "gateway-2"}
            event = build_event(
                id="order-7-shipped",
                type="order.shipped",
                title="Your order shipped",
                audience={"kind": "users", "ids": ["42"]},
            )
            assert (await receive_json(ws))["type"] == "catchup.done"
            await publish(client, event, prefix=fleet.key_prefix)
            frame = await receive_json(ws)
    assert frame["type"] == "notification"
    notification = frame["notification"]
    assert isinstance(notification, dict)
    assert notification["id"] == "order-7-shipped"
    assert notification["title"] == "Your order shipped"
    await client.aclose()


async def test_connection_without_token_is_closed_with_4401(fleet: Fleet) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(fleet.gateway_url()) as ws:
        msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 4401
    assert "missing token" in msg.extra


async def test_expired_token_is_refused(fleet: Fleet) -> None:
    token = dev_token("42", ttl_s=-120)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{fleet.gateway_url()}?token={token}") as ws:
        msg = await asyncio.wait_for(ws.receive(), 10)
    assert (msg.data, msg.extra) == (4401, "token expired")


async def test_history_stores_the_event_and_push_worker_gets_offline_users(fleet: Fleet) -> None:
    client = connect(fleet.redis_url)
    keys = fleet.keys
    event = build_event(
        id="offline-1", type="promo", title="Sale", audience={"kind": "users", "ids": ["nobody-online"]}
    )
    await publish(client, event, prefix=fleet.key_prefix)
    headers = {"Authorization": f"Bearer {dev_token('nobody-online')}"}
    deadline = time.monotonic() + 10
    ids: list[str] = []
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and not ids:
            async with http.get(f"{fleet.inbox_url()}/v1/inbox", headers=headers) as resp:
                assert resp.status == 200
                ids = [item["id"] for item in (await resp.json())["items"]]
            await asyncio.sleep(0.05)
    assert ids == ["offline-1"]
    jobs = [job for stream in keys.push_shards for job in await client.xrange(stream)]
    assert any(b"offline-1" in fields[b"job"] for _, fields in jobs)
    await client.aclose()


async def test_malformed_event_is_dead_lettered_and_routing_continues(fleet: Fleet) -> None:
    client = connect(fleet.redis_url)
    keys = fleet.keys
    bad_id = (await client.xadd(keys.ingress, {b"event": b'{"type": 5}'})).decode()
    deadline = time.monotonic() + 10
    reasons: list[dict[str, object]] = []
    while time.monotonic() < deadline and len(reasons) < 2:
        reasons = [json.loads(f[b"meta"]) for _, f in await client.xrange(keys.dead_letters)]
        reasons = [r for r in reasons if r["source_id"] == bad_id]
        await asyncio.sleep(0.05)
    assert {r["group"] for r in reasons} == {"router", "history"}
    assert all("Expected `str`, got `int` - at `$.type`" in str(r["reason"]) for r in reasons)
    await client.aclose()


async def test_offline_user_with_a_device_gets_the_push_through_fcm(fleet: Fleet) -> None:
    client = connect(fleet.redis_url)
    headers = {"Authorization": f"Bearer {dev_token('pushed-user')}"}
    async with aiohttp.ClientSession() as http:
        device = {"token": "e2e-device-1", "platform": "android"}
        async with http.post(f"{fleet.push_url()}/v1/devices", json=device, headers=headers) as resp:
            assert resp.status == 201
        event = build_event(
            id="push-e2e-1", type="promo", title="Sale", audience={"kind": "users", "ids": ["pushed-user"]}
        )
        await publish(client, event, prefix=fleet.key_prefix)
        deadline = time.monotonic() + 15
        received: list[dict[str, object]] = []
        while time.monotonic() < deadline and not received:
            async with http.get(f"{fleet.fcm_url()}/_fake/messages") as resp:
                received = [m for m in await resp.json() if m["target"] == "e2e-device-1"]
            await asyncio.sleep(0.05)
    assert len(received) == 1
    message = received[0]["message"]
    assert isinstance(message, dict)
    assert message["notification"] == {"title": "Sale"}
    assert message["data"]["nf_id"] == "push-e2e-1"
    await client.aclose()


async def test_read_on_one_device_reaches_the_other_device_live(fleet: Fleet) -> None:
    """The Python SDK on one device; the other marks read through the inbox API."""
    client = connect(fleet.redis_url)
    token = dev_token("reader-7")
    shown: list[str] = []
    reads: list[dict[str, object]] = []
    device = NotifyClient(fleet.gateway_url("gateway-1"), token=token)
    device.on("notification", lambda n: shown.append(n["id"]))
    device.on("read", reads.append)
    async with device, aiohttp.ClientSession() as http:
        await wait_until(lambda: device.state == "open")
        event = build_event(id="read-sync-1", type="note", audience={"kind": "users", "ids": ["reader-7"]})
        await publish(client, event, prefix=fleet.key_prefix)
        await wait_until(lambda: shown == ["read-sync-1"])
        inbox = InboxApi(fleet.inbox_url(), http, token=token)
        deadline = time.monotonic() + 10
        while True:  # history may not have stored it yet: 404 until then
            try:
                assert await inbox.mark_read("read-sync-1") is True
                break
            except ApiError as exc:
                assert exc.status == 404 and time.monotonic() < deadline, exc
            await asyncio.sleep(0.05)
        await wait_until(lambda: bool(reads))
    assert reads[0]["ids"] == ["read-sync-1"]
    assert shown == ["read-sync-1"]  # the transient inbox.read sync is a read event, not shown
    await client.aclose()
