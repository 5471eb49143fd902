"""Every close the gateway decides reaches a client that is still writing, with its code.

(The chaos tier repeats these against gateways in their own processes, where the timing of a
separate client exposes the reset far more often than a client sharing the node's loop.)

The clients here behave as client libraries do: they keep sending frames as fast as the loop
lets them and notice the close only when their reader gets it. If the gateway dropped the TCP
connection with their frames unread, the kernel would answer with a reset, the close frame would
be destroyed in the client's receive buffer and the client would see 1006 (network lost) instead
of the documented code.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from gwkit import GatewayFactory, RunningGateway, make_token

TRIES = 10
BATCH = 20
"""Frames a client writes between two turns of its event loop (its reader runs between batches)."""
FRAME = '{"type":"ping","pad":"' + "x" * 900 + '"}'
CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


async def flood_until_closed(
    http: aiohttp.ClientSession, url: str, first: str | None = None, headers: dict[str, str] | None = None
) -> int | None:
    """Send `first`, then pings without pause until the reader sees the close; its code."""
    ws = await http.ws_connect(url, headers=headers or {}, max_msg_size=0)

    async def write() -> None:
        with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
            if first is not None:
                await ws.send_str(first)
            while not ws.closed:
                for _ in range(BATCH):
                    await ws.send_str(FRAME)
                await asyncio.sleep(0)  # a client's write loop yields now and then, no more

    writer = asyncio.create_task(write())
    try:
        while True:
            msg = await ws.receive(timeout=15)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in CLOSED:
                return ws.close_code
    finally:
        await ws.close()
        await writer


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


@pytest.fixture
async def strict_gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A node that cuts off floods quickly and refuses frames over 1 KiB."""
    return await gateway_factory(rate_burst=5, rate_strikes=5, max_frame_bytes=1024)


async def test_a_flooding_client_always_gets_4429(
    strict_gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    codes = [
        await flood_until_closed(http, strict_gateway.url(), headers=bearer("flood")) for _ in range(TRIES)
    ]
    assert codes == [4429] * TRIES, codes


@pytest.mark.parametrize(
    "first",
    ['{"type":"ping","pad":"' + "x" * 1500 + '"}', "x" * (256 * 1024)],
    ids=["too_large", "far_too_large"],
)
async def test_a_frame_too_large_always_gets_1009_while_the_client_keeps_writing(
    strict_gateway: RunningGateway, http: aiohttp.ClientSession, first: str
) -> None:
    codes = [
        await flood_until_closed(http, strict_gateway.url(), first=first, headers=bearer("big"))
        for _ in range(TRIES)
    ]
    assert codes == [1009] * TRIES, codes


async def test_a_bad_token_always_gets_4401_while_the_client_keeps_writing(
    strict_gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bearer not-a-jwt"}
    codes = [await flood_until_closed(http, strict_gateway.url(), headers=headers) for _ in range(TRIES)]
    assert codes == [4401] * TRIES, codes


async def test_a_bad_auth_frame_always_gets_4401_while_the_client_keeps_writing(
    strict_gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    first = '{"type":"auth","token":"not-a-jwt"}'
    codes = [await flood_until_closed(http, strict_gateway.url(), first=first) for _ in range(TRIES)]
    assert codes == [4401] * TRIES, codes
