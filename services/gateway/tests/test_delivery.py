"""Delivery from the node's stream: users, rooms, topics, receipts, transient."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from gwkit import RunningGateway, connect_live, frame_of_type, make_token, next_frame
from notify_common.rooms import ALL, role_room, topic_room


async def receipts(gw: RunningGateway) -> list[dict[str, Any]]:
    return [json.loads(f[b"receipt"]) for _, f in await gw.node.client.xrange(gw.keys.receipts)]


async def test_notification_reaches_every_device_of_its_user(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    token = make_token("42")
    devices = [await connect_live(http, gateway, token) for _ in range(2)]
    other = await connect_live(http, gateway, make_token("43"))
    await gateway.deliver("n-1", user_ids=["42"], title="hi")
    for ws in devices:
        frame = await next_frame(ws)
        assert frame["notification"]["id"] == "n-1"
        assert frame["notification"]["title"] == "hi"
    await gateway.deliver("n-2", user_ids=["43"])
    assert (await next_frame(other))["notification"]["id"] == "n-2"


async def test_role_broadcast_reaches_only_that_roles_members(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    drivers = [await connect_live(http, gateway, make_token(f"d{i}", ["driver"])) for i in range(3)]
    customer = await connect_live(http, gateway, make_token("c1", ["customer"]))
    await gateway.deliver("b-1", rooms=[role_room("driver")])
    await gateway.deliver("b-2", rooms=[ALL])
    for ws in drivers:
        assert (await next_frame(ws))["notification"]["id"] == "b-1"
        assert (await next_frame(ws))["notification"]["id"] == "b-2"
    assert (await next_frame(customer))["notification"]["id"] == "b-2"


async def test_topic_broadcast_reaches_clients_that_joined_an_allowed_topic(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    member = await connect_live(http, gateway, make_token("1", topics=["news"]))
    at_connect = await connect_live(http, gateway, make_token("2", topics=["*"]), "?topics=news")
    outsider = await connect_live(http, gateway, make_token("3"))
    await member.send_json({"type": "subscribe", "topic": "news"})
    assert await next_frame(member) == {"type": "subscribed", "topic": "news"}
    await outsider.send_json({"type": "subscribe", "topic": "news"})
    assert (await next_frame(outsider))["code"] == "forbidden_topic"
    await gateway.deliver("t-1", rooms=[topic_room("news")])
    assert (await next_frame(member))["notification"]["id"] == "t-1"
    assert (await next_frame(at_connect))["notification"]["id"] == "t-1"
    await gateway.deliver("u-3", user_ids=["3"])
    assert (await next_frame(outsider))["notification"]["id"] == "u-3"  # and not t-1


async def test_delivered_receipt_per_explicit_recipient_and_none_for_broadcasts(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    ws = await connect_live(http, gateway, make_token("42", ["driver"]))
    await gateway.deliver("b-1", rooms=[role_room("driver")])
    await gateway.deliver("n-1", user_ids=["42", "offline-user"])
    await frame_of_type(ws, "notification")
    await frame_of_type(ws, "notification")
    found = await receipts(gateway)
    assert [(r["notification_id"], r["user_id"], r["kind"], r["node"]) for r in found] == [
        ("n-1", "42", "delivered", "gw-test")
    ]


async def test_transient_notification_is_delivered_without_receipt(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    ws = await connect_live(http, gateway, make_token("42"))
    await gateway.deliver("tr-1", user_ids=["42"], transient=True)
    assert (await next_frame(ws))["notification"]["transient"] is True
    assert await receipts(gateway) == []


async def test_ack_and_read_frames_become_receipts(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    ws = await connect_live(http, gateway, make_token("42"))
    await ws.send_json({"type": "ack", "id": "n-9"})
    await ws.send_json({"type": "read", "ids": ["n-9", "n-8"]})
    await ws.send_json({"type": "ping"})
    await frame_of_type(ws, "pong")
    kinds = [(r["notification_id"], r["kind"], r["channel"]) for r in await receipts(gateway)]
    assert kinds == [("n-9", "acked", "socket"), ("n-9", "read", "socket"), ("n-8", "read", "socket")]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "nope"}, "bad_frame"),
        ({"type": "ack"}, "bad_frame"),
        ({"type": "read", "ids": []}, "bad_frame"),
    ],
)
async def test_bad_client_frame_gets_an_error_and_the_socket_stays_open(
    http: aiohttp.ClientSession, gateway: RunningGateway, frame: dict[str, Any], code: str
) -> None:
    ws = await connect_live(http, gateway, make_token("42"))
    await ws.send_json(frame)
    error = await next_frame(ws)
    assert (error["type"], error["code"]) == ("error", code)
    await ws.send_json({"type": "ping"})
    assert (await next_frame(ws))["type"] == "pong"
