"""A client that stops reading is closed (4408) while the others keep receiving; rate limits."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import aiohttp
from devstack.polling import wait_until
from gwkit import GatewayFactory, connect_live, frame_of_type, make_token, next_frame
from notify_common.presence import user_presence


async def stalled_client(port: int, token: str) -> socket.socket:
    """A real WebSocket client that completes the handshake and then never reads again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_slow_client_is_closed_while_others_keep_receiving(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(send_buffer_bytes=32 * 1024)
    reader = await connect_live(http, gw, make_token("fast"))
    stalled = await stalled_client(gw.port, make_token("slow"))
    client = gw.node.client

    async def slow_online() -> bool:
        return await user_presence(client, gw.keys, "slow") != {}

    await wait_until(slow_online)
    received: list[str] = []
    body = "x" * 4000
    sent = 0
    while await slow_online():
        assert sent < 5000, "the stalled client was never closed"
        for _ in range(20):
            await gw.deliver(f"n-{sent}", rooms=["all"], body=body)
            sent += 1
        while len(received) < sent:
            received.append((await frame_of_type(reader, "notification"))["notification"]["id"])
    assert received == [f"n-{i}" for i in range(sent)]
    stalled.close()


async def test_flooding_client_gets_rate_limited_then_closed_with_4429(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(rate_per_s=1, rate_burst=3, rate_strikes=5)
    ws = await connect_live(http, gw, make_token("42"))
    for _ in range(10):
        await ws.send_json({"type": "ping"})
    frames = [await next_frame(ws) for _ in range(4)]
    assert [f["type"] for f in frames] == ["pong", "pong", "pong", "error"]
    assert frames[3]["code"] == "rate_limited"
    msg = await ws.receive(timeout=10)
    assert (msg.type, msg.data, msg.extra) == (
        aiohttp.WSMsgType.CLOSE,
        4429,
        "rate limit exceeded repeatedly",
    )


async def test_frame_larger_than_the_limit_closes_with_1009(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(max_frame_bytes=1024)
    ws = await connect_live(http, gw, make_token("42"))
    await ws.send_str('{"type":"ping","pad":"' + "x" * 4096 + '"}')
    msg = await ws.receive(timeout=10)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1009)
