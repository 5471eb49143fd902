"""Device-token frames register and unregister push tokens for push-worker."""

from __future__ import annotations

import aiohttp
from gwkit import RunningGateway, connect_live, make_token, next_frame
from notify_common.devices import devices_of_user


async def test_device_register_and_unregister_frames(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    ws = await connect_live(http, gateway, make_token("42"))
    await ws.send_json({"type": "device.register", "token": "fcm-token-1", "platform": "android"})
    assert await next_frame(ws) == {"type": "device.registered", "token": "fcm-token-1"}
    devices = await devices_of_user(gateway.node.client, gateway.keys, "42")
    assert [(d.token, d.platform) for d in devices] == [("fcm-token-1", "android")]
    await ws.send_json({"type": "device.unregister", "token": "fcm-token-1"})
    assert await next_frame(ws) == {"type": "device.unregistered", "token": "fcm-token-1"}
    assert await devices_of_user(gateway.node.client, gateway.keys, "42") == []


async def test_bad_device_token_gets_an_error(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    ws = await connect_live(http, gateway, make_token("42"))
    await ws.send_json({"type": "device.register", "token": "not a token!", "platform": "android"})
    error = await next_frame(ws)
    assert error["code"] == "bad_device"
