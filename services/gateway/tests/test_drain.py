"""Paced drain: a stopping node closes its sockets spread over DRAIN_WINDOW_S, each with 1001 and a
reconnect hint, and removes its presence after the last one."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from devstack.polling import wait_until
from gateway.app import shutdown
from gateway.config import GatewayConfig
from gateway.drain_schedule import closes_due, going_away_reason, retry_ms
from gwkit import GatewayFactory, connect_live, make_token
from notify_common.config import ConfigError, load_config
from notify_common.presence import user_presence
from redis.asyncio import Redis

SOCKETS = 20
WINDOW_S = 1.0


async def closed_at(ws: aiohttp.ClientWebSocketResponse) -> tuple[float, int, str]:
    """When the close frame came, its code and its reason."""
    while True:
        msg = await ws.receive(timeout=15)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return time.monotonic(), int(msg.data), str(msg.extra)


async def test_sockets_are_closed_over_the_drain_window_with_a_reconnect_hint(
    gateway_factory: GatewayFactory, http: aiohttp.ClientSession, redis: Redis
) -> None:
    gw = await gateway_factory(drain_window_s=WINDOW_S)
    sockets = [await connect_live(http, gw, make_token(f"d-{i}")) for i in range(SOCKETS)]
    waits = [asyncio.create_task(closed_at(ws)) for ws in sockets]
    started = time.monotonic()
    await shutdown(gw.node)
    closes = await asyncio.gather(*waits)
    times = sorted(at - started for at, _, _ in closes)
    assert {(code, reason) for _, code, reason in closes} == {(1001, going_away_reason(retry_ms(WINDOW_S)))}
    # evenly spread: the last close comes (n-1)/n of the window after the first, none at once
    assert times[-1] - times[0] >= WINDOW_S * (SOCKETS - 1) / SOCKETS * 0.8, times
    per_tenth = [sum(1 for t in times if k / 10 <= t < (k + 1) / 10) for k in range(10)]
    assert max(per_tenth) <= SOCKETS / 10 + 2, per_tenth
    assert await user_presence(redis, gw.keys, "d-0") == {}


def test_the_reconnect_hint_is_in_the_close_reason_and_fits_its_123_bytes() -> None:
    for window in (0.0, 5.0, 3600.0):
        reason = going_away_reason(retry_ms(window))
        assert len(reason.encode()) <= 123
        found = re.search(r"retry_ms=(\d+)", reason)
        assert found is not None and int(found.group(1)) == max(1000, round(window * 1000))


def test_a_drain_window_longer_than_the_shutdown_grace_is_refused() -> None:
    # 1.5 windows (a late drain) plus the 2 s closing handshake must fit in the grace time
    env = {"JWT_SECRET": "x" * 32, "SHUTDOWN_GRACE_S": "10", "DRAIN_WINDOW_S": "6"}
    with pytest.raises(ConfigError, match="DRAIN_WINDOW_S"):
        load_config(GatewayConfig, env)
    assert load_config(GatewayConfig, {**env, "DRAIN_WINDOW_S": "5"}).drain_window_s == 5.0


def test_a_drain_behind_its_schedule_catches_up_at_twice_the_rate_not_at_once() -> None:
    # 1,000 sockets over 10 s: 100/s planned; the loop was starved for 3 s with 10 closed
    assert closes_due(1000, 10, elapsed_s=3.0, since_tick_s=0.02, window_s=10.0) == 10 + 4
    assert closes_due(1000, 10, elapsed_s=3.0, since_tick_s=3.0, window_s=10.0) == 10 + 40
    # on schedule: what is planned, never less than what is done
    assert closes_due(1000, 300, elapsed_s=3.0, since_tick_s=0.02, window_s=10.0) == 301
    assert closes_due(1000, 500, elapsed_s=3.0, since_tick_s=0.02, window_s=10.0) == 500
    # past 1.5 windows, or with no window, the rest at once
    assert closes_due(1000, 10, elapsed_s=15.0, since_tick_s=0.02, window_s=10.0) == 1000
    assert closes_due(1000, 0, elapsed_s=0.0, since_tick_s=0.0, window_s=0.0) == 1000


async def test_a_socket_still_waiting_for_its_auth_frame_is_closed_with_1001_too(
    gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory(drain_window_s=WINDOW_S, auth_timeout_s=30)
    ws = await http.ws_connect(gw.url())  # no token: the node waits for an `auth` frame
    await wait_until(lambda: len(gw.node.opening) == 1, 10)
    waiting = asyncio.create_task(closed_at(ws))
    await shutdown(gw.node)
    _, code, reason = await waiting
    assert (code, reason) == (1001, going_away_reason(retry_ms(WINDOW_S)))
