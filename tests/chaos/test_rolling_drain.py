"""A rolling restart of both gateway nodes under 5,000 clients: each stopping node closes its
sockets over DRAIN_WINDOW_S with a reconnect hint, so the surviving node takes the reconnects at
about clients / window a second instead of all at once, and no notification is lost."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.polling import wait_until
from devstack.redis_server import start_redis
from notify_common.keys import Keys

from bench.procstats import raise_nofile_limit
from chaos.herd import Herd, Member, per_second

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(400)]

CLIENTS = 5000
DRAIN_WINDOW_S = 4.0
SLACK = 2.0
"""How far above clients / window a one-second bin of reconnects may go: the spread's own
unevenness, and closes a starved node sends late (it catches up at up to twice the pace).
Closing all at once offers the survivor all its clients within the 1 s minimum hint."""
FIRST_CONNECTS = 200
"""Handshakes in flight while the herd first connects (setup, not what is measured)."""
EVENTS_PER_S = 10
RECIPIENTS = 10


def port_below_ephemeral_range(rng: random.Random) -> int:
    """A free port the kernel never hands to an outgoing connection: a restarting node must get its
    port back, and 5,000 clients reconnecting meanwhile could otherwise take it."""
    range_file = Path("/proc/sys/net/ipv4/ip_local_port_range")
    first_ephemeral = int(range_file.read_text().split()[0]) if range_file.exists() else 32768
    for _ in range(100):
        port = rng.randrange(10_000, first_ephemeral)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


class RestartableFleet(Fleet):
    """Every service listens below the ephemeral port range (see port_below_ephemeral_range)."""

    def assign_ports(self) -> dict[str, int]:
        wanted = super().assign_ports()
        rng = random.Random()
        for name in self.gateway_ports:
            self.gateway_ports[name] = port_below_ephemeral_range(rng)
        for name in self.ops_ports:
            self.ops_ports[name] = port_below_ephemeral_range(rng)
        if self.router_http_port:
            self.router_http_port = port_below_ephemeral_range(rng)
        return wanted


@dataclass
class Restart:
    node: str
    moved: int
    """Sockets the stopping node held when it got SIGTERM."""
    survivor_offered: list[int]
    """Reconnects (after a 1001) begun towards the survivor in each second from the SIGTERM on."""
    survivor_connects: list[int]
    """Connects the survivor completed in each second from the SIGTERM on (what it could take)."""
    exit_code: int | None
    stop_s: float


async def within(check: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `check` until it holds (True) or `timeout_s` passed (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)


async def publish(
    client: redis_async.Redis, keys: Keys, herd: Herd, stop: asyncio.Event
) -> dict[str, list[str]]:
    """Events to a few members each, EVENTS_PER_S a second, until `stop`; id -> recipients."""
    sent: dict[str, list[str]] = {}
    rng = random.Random(7)
    while not stop.is_set():
        eid = f"roll-{len(sent)}"
        users = [m.user_id for m in rng.sample(herd.members, RECIPIENTS)]
        body = {"id": eid, "type": "roll.test", "title": eid, "audience": {"kind": "users", "ids": users}}
        await client.xadd(keys.ingress, {b"event": msgspec.json.encode(body)})
        sent[eid] = users
        try:
            await asyncio.wait_for(stop.wait(), 1 / EVENTS_PER_S)
        except TimeoutError:
            pass
    return sent


async def roll(fleet: Fleet, herd: Herd, window_s: float) -> list[Restart]:
    """SIGTERM each gateway in turn, restart it, wait until every client is back."""
    restarts = []
    for index, name in enumerate(["gateway-1", "gateway-2"]):
        survivor = 1 - index
        moved = herd.connected(index)
        proc = fleet.processes[name]
        signalled = time.monotonic()
        exit_code = await asyncio.to_thread(proc.stop, 30.0)
        stop_s = time.monotonic() - signalled
        await asyncio.to_thread(proc.start)
        await asyncio.to_thread(proc.wait_ready, 60.0)
        await wait_until(lambda: herd.connected() == CLIENTS, 120, 0.2, f"every client back after {name}")
        end = signalled + window_s * 2 + 6

        def at_survivor(events: list[tuple[float, int]]) -> list[float]:
            return [t for t, node in events if node == survivor]  # noqa: B023 (used at once)

        offered = per_second(at_survivor(herd.reconnects), signalled, end)
        connects = per_second(at_survivor(herd.connects), signalled, end)
        restarts.append(Restart(name, moved, offered, connects, exit_code, stop_s))
    return restarts


async def rolling_restart(workdir: Path, window_s: float) -> tuple[list[Restart], Herd, dict[str, list[str]]]:
    """Start a fleet, connect the herd, publish while both gateways restart in turn."""
    raise_nofile_limit()
    server = start_redis()
    env = {"DRAIN_WINDOW_S": str(window_s), "LOG_FORMAT": "json"}
    fleet = RestartableFleet(server.url, workdir, gateways=2, services=("router",), extra_env=env)
    await asyncio.to_thread(fleet.start, 60.0)
    client = redis_async.Redis.from_url(server.url)
    herd = Herd([fleet.gateway_url("gateway-1"), fleet.gateway_url("gateway-2")], random.Random(15))
    herd.members = [Member(f"roll-{i}", dev_token(f"roll-{i}"), i % 2) for i in range(CLIENTS)]
    stop, published = asyncio.Event(), asyncio.Event()
    first = asyncio.Semaphore(FIRST_CONNECTS)
    members = [asyncio.create_task(herd.run(m, stop, first)) for m in herd.members]
    try:
        await wait_until(lambda: herd.connected() == CLIENTS, 180, 0.2, "the herd to connect")
        publisher = asyncio.create_task(publish(client, Keys(fleet.key_prefix), herd, published))
        restarts = await roll(fleet, herd, window_s)
        published.set()
        sent = await publisher

        def all_received() -> bool:
            by_user = {m.user_id: m.ids for m in herd.members}
            return all(eid in by_user[u] for eid, users in sent.items() for u in users)

        await within(all_received, 60)  # a late one is reported as lost by the test
        return restarts, herd, sent
    finally:
        stop.set()
        herd.close_all()
        await asyncio.gather(*members, return_exceptions=True)
        await client.aclose()
        await asyncio.to_thread(fleet.stop)
        server.stop()


def lost(herd: Herd, sent: dict[str, list[str]]) -> int:
    by_user = {m.user_id: m.ids for m in herd.members}
    return sum(1 for eid, users in sent.items() for u in users if eid not in by_user[u])


async def test_a_rolling_restart_paces_the_reconnects_to_the_drain_window_and_loses_nothing(
    tmp_path: Path,
) -> None:
    restarts, herd, sent = await rolling_restart(tmp_path, DRAIN_WINDOW_S)
    for r in restarts:
        print(
            f"{r.node}: moved {r.moved}, reconnects offered to the survivor per second"
            f" {r.survivor_offered} (bound {r.moved / DRAIN_WINDOW_S:.0f}/s x {SLACK}), connects"
            f" it completed {r.survivor_connects}, stopped in {r.stop_s:.1f} s"
        )
    print(
        f"closes {dict(herd.closes)}, refusals {herd.refusals}, {len(sent)} events,"
        f" duplicates dropped by id {sum(m.duplicates for m in herd.members)}"
    )
    assert [r.exit_code for r in restarts] == [0, 0]
    assert all(r.moved > CLIENTS / 4 for r in restarts), restarts
    for r in restarts:
        assert max(r.survivor_offered) <= r.moved / DRAIN_WINDOW_S * SLACK, r
    # every socket a stopping node held was closed with 1001 (drops without a close frame are the
    # survivor refusing under load, retried by the client; counted, not asserted here)
    assert herd.closes[1001] >= sum(r.moved for r in restarts), herd.closes
    assert lost(herd, sent) == 0
