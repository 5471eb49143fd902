"""Hostile WebSocket clients: garbage, oversized and binary frames, ping floods and a reconnect
storm of 2,000 clients. No gateway crashes or stalls, presence does not leak, and a well-behaved
client on the same node still gets its next notification."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
import redis
from devstack.fleet import Fleet, dev_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from notify_common.keys import Keys

from chaos.probes import (
    assert_fleet_healthy,
    delivers_to_a_fresh_client,
    documented_close_codes,
    flood_until_closed,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

CLOSE_TRIES = 20
"""Each close is tried this many times: a reset destroys the close frame only now and then."""

STORM_CLIENTS = 2000
STORM_CONNECT_CONCURRENCY = 500
"""Handshakes in flight at once; bounded so the load generator does not starve the 2-core host."""


class NoHello(Exception):
    """The upgrade succeeded but the connection closed before the hello frame."""


async def connect(http: aiohttp.ClientSession, fleet: Fleet, user: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        fleet.gateway_url("gateway-1"), headers={"Authorization": f"Bearer {dev_token(user)}"}
    )
    hello = await asyncio.wait_for(ws.receive(), 20)
    if hello.type != aiohttp.WSMsgType.TEXT:
        raise NoHello(repr(hello))
    return ws


PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


async def send_then_close(fleet: Fleet, frames: list[str | bytes]) -> int | None:
    """Send hostile frames on one connection; the gateway may close it, but must not die.

    Returns the close code if the gateway closed the connection, else None.
    """
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, fleet, "hostile")
        try:
            for frame in frames:
                if ws.closed:
                    break
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            # Drain what the gateway answered (errors, pongs) until it goes quiet or closes.
            while not ws.closed:
                msg = await asyncio.wait_for(ws.receive(), 1.0)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    break
        except (ConnectionError, aiohttp.ClientError, TimeoutError):
            pass
        finally:
            await ws.close()
        return ws.close_code if ws.close_code not in (None, 1000) else None


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    frames=st.lists(
        st.one_of(
            st.text(max_size=300),
            st.binary(max_size=300),
            st.sampled_from(
                ['{"type":"ping"}', '{"type":', '{"type":"subscribe","topic":[]}', "null", "[]", "{}"]
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_garbage_text_and_binary_frames_do_not_break_the_gateway(
    fleet: Fleet, frames: list[str | bytes]
) -> None:
    asyncio.run(send_then_close(fleet, frames))


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(user)}"}


@pytest.mark.parametrize(
    ("first", "headers", "code"),
    [
        # RATE_BURST frames pass, then RATE_STRIKES refusals in a row close the socket.
        pytest.param(None, bearer("flood"), 4429, id="flood-4429"),
        # Just over MAX_FRAME_BYTES (64 KiB): read whole, then refused.
        pytest.param("x" * 70 * 1024, bearer("big"), 1009, id="70KiB-1009"),
        # Far over it: aiohttp's parser gives up while the frame is still arriving.
        pytest.param("x" * 1024 * 1024, bearer("huge"), 1009, id="1MiB-1009"),
        pytest.param(None, {"Authorization": "Bearer not-a-jwt"}, 4401, id="bad-token-4401"),
        pytest.param('{"type":"auth","token":"not-a-jwt"}', {}, 4401, id="bad-auth-frame-4401"),
    ],
)
async def test_a_client_that_keeps_writing_always_gets_the_close_code(
    fleet: Fleet, first: str | None, headers: dict[str, str], code: int
) -> None:
    """The gateway completes the closing handshake before it drops the TCP connection, so no
    reset destroys the close frame of a client still writing (it would see 1006, not the code)."""
    async with aiohttp.ClientSession() as http:
        codes = [
            await flood_until_closed(http, fleet.gateway_url("gateway-1"), first, headers)
            for _ in range(CLOSE_TRIES)
        ]
    assert codes == [code] * CLOSE_TRIES, codes
    await delivers_to_a_fresh_client(fleet)


async def test_a_ping_flood_is_answered_or_cut_off_and_the_node_keeps_delivering(fleet: Fleet) -> None:
    code = await send_then_close(fleet, ['{"type":"ping"}'] * 10_000)
    assert code is None or code in documented_close_codes(PROTOCOL), f"undocumented close code {code}"
    await delivers_to_a_fresh_client(fleet)


async def storm(
    fleet: Fleet, http: aiohttp.ClientSession, retried: list[int]
) -> list[aiohttp.ClientWebSocketResponse]:
    """Connect STORM_CLIENTS at once; a client refused in the crush retries with backoff, as apps do."""
    gate = asyncio.Semaphore(STORM_CONNECT_CONCURRENCY)

    async def one(i: int) -> aiohttp.ClientWebSocketResponse:
        async with gate:
            for attempt in range(5):
                try:
                    return await connect(http, fleet, f"storm-{i}")
                except (aiohttp.ClientError, OSError, TimeoutError, NoHello):
                    retried.append(i)
                    await asyncio.sleep(0.2 * 2**attempt)
            return await connect(http, fleet, f"storm-{i}")

    return list(await asyncio.gather(*(one(i) for i in range(STORM_CLIENTS))))


async def test_a_reconnect_storm_of_2000_clients_is_served_and_leaves_no_presence_behind(
    fleet: Fleet,
) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    retried: list[int] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(2):  # connect all, drop all, connect all again: a storm after a node loss
            sockets = await storm(fleet, http, retried)
            assert sum(not ws.closed for ws in sockets) == STORM_CLIENTS
            await delivers_to_a_fresh_client(fleet)
            await asyncio.gather(*(ws.close() for ws in sockets))
    client = redis.Redis.from_url(fleet.redis_url)
    keys = Keys(fleet.key_prefix)
    deadline = time.monotonic() + 30
    leaked: list[bytes] = []
    while time.monotonic() < deadline:
        leaked = [u for u in client.hkeys(keys.node_users("gateway-1")) if u.startswith(b"storm-")]
        if not leaked:
            break
        time.sleep(0.5)
    client.close()
    print(f"storm: {2 * STORM_CLIENTS} connections, {len(retried)} retried")
    assert not leaked, f"{len(leaked)} storm users still present on gateway-1"


def test_gateways_still_ready_after_hostile_clients(fleet: Fleet) -> None:
    assert_fleet_healthy(fleet)
