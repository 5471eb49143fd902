"""Who may connect: the auth matrix over a real socket, the auth frame, origins, expiry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import jwt
import pytest
from gwkit import SECRET, GatewayFactory, RunningGateway, frame_of_type, make_token, next_frame
from notify_common.clock import now_ms


async def close_of(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
    return int(msg.data), str(msg.extra)


async def refused(http: aiohttp.ClientSession, gw: RunningGateway, token: str) -> tuple[int, str]:
    async with http.ws_connect(gw.url(), headers={"Authorization": f"Bearer {token}"}) as ws:
        return await close_of(ws)


def signed(claims: dict[str, Any], key: str = SECRET, alg: str = "HS256") -> str:
    base = {"sub": "42", "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, key, algorithm=alg)


async def test_valid_token_in_header_gets_hello(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    async with http.ws_connect(gateway.url(), headers={"Authorization": f"Bearer {make_token('42')}"}) as ws:
        assert await next_frame(ws) == {"type": "hello", "user_id": "42", "node": "gw-test"}


async def test_valid_token_in_query_gets_hello(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    async with http.ws_connect(f"{gateway.url()}?token={make_token('42')}") as ws:
        assert (await next_frame(ws))["type"] == "hello"


async def test_first_auth_frame_authenticates_a_browser(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    async with http.ws_connect(gateway.url()) as ws:
        await ws.send_json({"type": "auth", "token": make_token("42")})
        assert (await next_frame(ws))["user_id"] == "42"


async def test_expired_token_closes_with_4401(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    assert await refused(http, gateway, make_token("42", ttl_s=-120)) == (4401, "token expired")


async def test_wrong_signature_closes_with_4401(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    code, reason = await refused(http, gateway, signed({}, key="another-secret-0123456789-0123456789"))
    assert (code, reason) == (4401, "invalid token: Signature verification failed")


async def test_wrong_algorithm_closes_with_4401(http: aiohttp.ClientSession, gateway: RunningGateway) -> None:
    code, reason = await refused(http, gateway, signed({}, key=SECRET * 2, alg="HS512"))
    assert code == 4401
    assert "algorithm 'HS512' is not allowed" in reason


async def test_missing_token_closes_with_4401_after_the_auth_timeout(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(auth_timeout_s=0.3)
    async with http.ws_connect(gw.url()) as ws:
        code, reason = await close_of(ws)
    assert code == 4401
    assert reason.startswith("missing token")


async def test_wrong_audience_closes_with_4401(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(jwt_audience="notify")
    assert await refused(http, gw, signed({"aud": "billing"})) == (
        4401,
        "invalid token: audience must be 'notify'",
    )


async def test_origin_outside_the_allow_list_is_refused_before_upgrade(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(allowed_origins=["https://app.example"])
    headers = {"Authorization": f"Bearer {make_token('42')}", "Origin": "https://evil.example"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(gw.url(), headers=headers)
    assert info.value.status == 403


@asynccontextmanager
async def warned_of_expiry(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A socket whose token expires in 3 s, once the node has sent `token.expiring` (2 s ahead;
    deadlines fire at whole seconds, so a notice window under ~2 s is at the mercy of the tick)."""
    gw = await gateway_factory(jwt_leeway_s=0, token_notice_s=2)
    token = jwt.encode({"sub": "42", "exp": time.time() + 3}, SECRET, algorithm="HS256")
    async with http.ws_connect(gw.url(), headers={"Authorization": f"Bearer {token}"}) as ws:
        await frame_of_type(ws, "token.expiring")
        yield ws


async def test_expiring_token_is_warned_then_closed_with_4401(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    async with warned_of_expiry(http, gateway_factory) as ws:
        assert await close_of(ws) == (4401, "token expired: reconnect with a fresh token")


async def test_token_already_inside_its_notice_window_is_warned_before_the_close(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(jwt_leeway_s=0, token_notice_s=60)
    token = jwt.encode({"sub": "42", "exp": time.time() + 2}, SECRET, algorithm="HS256")
    async with http.ws_connect(gw.url(), headers={"Authorization": f"Bearer {token}"}) as ws:
        await frame_of_type(ws, "token.expiring")
        assert await close_of(ws) == (4401, "token expired: reconnect with a fresh token")


async def test_fresh_token_in_time_keeps_the_connection(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    async with warned_of_expiry(http, gateway_factory) as ws:
        await ws.send_json({"type": "auth", "token": make_token("42")})
        assert (await frame_of_type(ws, "auth.ok"))["expires_ms"] > now_ms() + 60_000
        # Past the old token's expiry nothing arrives, in particular no close.
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=4.0)
        await ws.send_json({"type": "ping"})
        assert (await next_frame(ws))["type"] == "pong"
