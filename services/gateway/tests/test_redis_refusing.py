"""Redis refusing writes (maxmemory reached with noeviction) while clients connect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from gwkit import RunningGateway, connect_live, make_token


@pytest.fixture
async def redis_full(gateway: RunningGateway) -> AsyncIterator[None]:
    client = gateway.node.client
    policy = (await client.config_get("maxmemory-policy"))["maxmemory-policy"]
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", "1")
    try:
        yield
    finally:
        await client.config_set("maxmemory", "0")
        await client.config_set("maxmemory-policy", policy)


async def test_a_connect_while_redis_refuses_writes_is_closed_with_1013(
    http: aiohttp.ClientSession, gateway: RunningGateway, redis_full: None
) -> None:
    ws = await http.ws_connect(gateway.url(), headers={"Authorization": f"Bearer {make_token('42')}"})
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1013
    assert "reconnect later" in msg.extra


async def test_the_gateway_serves_again_once_redis_accepts_writes(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    client = gateway.node.client
    await client.config_set("maxmemory", "1")
    try:
        ws = await http.ws_connect(gateway.url(), headers={"Authorization": f"Bearer {make_token('42')}"})
        assert (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE
    finally:
        await client.config_set("maxmemory", "0")
    ws = await connect_live(http, gateway, make_token("42"))
    await gateway.deliver("after-1", user_ids=["42"])
    frame = await ws.receive_json(timeout=10)
    assert frame["notification"]["id"] == "after-1"
    await ws.close()
