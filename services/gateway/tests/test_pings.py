"""Keep-alive: one wheel pings every connection once per interval, spread over time."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import aiohttp
from devstack.polling import wait_until
from gateway.pings import PingWheel
from gwkit import make_token, next_frame

from .conftest import GatewayFactory


class _Conn:
    ping_slot = 0
    deadline = 0


def _wheel_of(count: int, interval_s: float = 2.0) -> tuple[PingWheel, list[_Conn]]:
    wheel = PingWheel(interval_s, tick_s=0.1, started=0.0)  # a turn per half interval: 10 slots at 2 s
    conns = [_Conn() for _ in range(count)]
    for conn in conns:
        wheel.add(conn)  # type: ignore[arg-type]
    return wheel, conns


def test_connections_that_arrive_together_are_spread_over_the_whole_interval() -> None:
    wheel, conns = _wheel_of(100)
    visits = [wheel.due(0.1 * (i + 1) + 1e-6) for i in range(len(wheel.slots))]
    assert [len(v) for v in visits] == [10] * 10
    assert sorted(id(c) for v in visits for c in v) == sorted(id(c) for c in conns)


def test_a_late_turn_visits_every_slot_whose_time_came_and_nobody_twice() -> None:
    wheel, conns = _wheel_of(100)
    assert wheel.due(0.05) == []  # not a tick yet
    assert len(wheel.due(0.3 + 1e-6)) == 30  # three slots' time came
    assert len(wheel.due(0.3 + 1e-6)) == 0
    stalled = wheel.due(60.0)  # stalled for many turns: one whole turn, each connection once
    assert sorted(id(c) for c in stalled) == sorted(id(c) for c in conns)
    assert len(wheel.due(60.1 + 1e-6)) == 10  # and on with the clock


def test_the_wheel_wakes_up_for_a_batch_of_visits_or_the_next_token_deadline() -> None:
    second = float(math.floor(time.time()) + 10)
    empty, _ = _wheel_of(0, interval_s=30.0)
    assert empty.wait_s(second) == 1.0  # nothing to ping: once a second, for token deadlines
    few, conns = _wheel_of(20, interval_s=30.0)
    assert few.wait_s(second) == 1.0
    short, _ = _wheel_of(0, interval_s=0.4)
    assert short.wait_s(second) == 0.1  # a ping every 0.4 s needs a turn every 0.1 s
    many, _ = _wheel_of(100_000, interval_s=30.0)
    assert many.wait_s(second) == many.tick_s  # at most a tick's slot per turn
    few.set_deadline(conns[0], second + 0.5)  # type: ignore[arg-type]
    assert abs(few.wait_s(second + 0.25) - 0.75) < 1e-6  # its bucket (the next second) is due then
    few.discard(conns[0])  # type: ignore[arg-type]
    assert few.size == 19 and few.wait_s(second + 0.25) == 1.0


def test_token_deadlines_come_due_once_never_early_and_can_be_moved_or_cleared() -> None:
    wheel = PingWheel(interval_s=2.0, tick_s=0.1)
    now = time.time()
    early, moved, cleared = _Conn(), _Conn(), _Conn()
    wheel.set_deadline(early, now + 2.5)  # type: ignore[arg-type]
    wheel.set_deadline(moved, now + 2.5)  # type: ignore[arg-type]
    wheel.set_deadline(cleared, now + 2.5)  # type: ignore[arg-type]
    wheel.set_deadline(moved, now + 10)  # type: ignore[arg-type]
    wheel.clear_deadline(cleared)  # type: ignore[arg-type]
    assert wheel.due_deadlines(now + 2.4) == []
    assert wheel.due_deadlines(now + 4) == [early]
    assert wheel.due_deadlines(now + 5) == []
    assert wheel.due_deadlines(now + 11) == [moved]
    assert wheel.deadlines == {}  # nothing left behind to hold a closed connection


async def _connect(http: aiohttp.ClientSession, url: str, **options: Any) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url, headers={"Authorization": f"Bearer {make_token('42')}"}, **options)
    assert (await next_frame(ws))["type"] == "hello"
    return ws


async def test_a_client_that_never_answers_pings_is_dropped_without_a_close_frame(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(ping_interval_s=0.4)
    ws = await _connect(http, gw.url(), autoping=False)
    kinds = []
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            kinds.append(msg.type)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
    assert aiohttp.WSMsgType.PING in kinds
    assert aiohttp.WSMsgType.CLOSE not in kinds  # a dead peer gets no close frame
    await wait_until(lambda: _true("42" not in gw.node.sockets.by_user))  # its session is closed


async def test_a_client_that_answers_pings_stays_connected_and_gets_its_own_pings_answered(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory(ping_interval_s=0.4)
    ws = await _connect(http, gw.url(), autoping=False)
    pongs = 0
    pings = 0
    await ws.ping(b"are you there")
    async with asyncio.timeout(10):
        while pings < 4:  # two intervals' worth of server pings, each answered by hand
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                assert msg.data == b"are you there"
                pongs += 1
            elif msg.type != aiohttp.WSMsgType.TEXT:  # frames (catch-up marker) are fine
                raise AssertionError(f"unexpected {msg.type}: {msg.data!r}")
    assert pongs >= 1
    assert not ws.closed


async def _true(value: bool) -> bool:
    return value
