"""Socket.IO against the native WebSocket on the same gateway code: memory per idle connection
and gateway CPU per delivered notification.

Two fresh gateway nodes of one fleet (router only besides them): gateway-1 holds N native /ws
clients, gateway-2 N Socket.IO clients (Engine.IO v4 over WebSocket, namespace /notifications,
each notification acknowledged as socket.io-client does). Broadcasts to `all` reach both; each
node's RSS growth and CPU seconds are read from its own process.

    .venv/bin/python -m bench.socketio_cost --connections 2000 --notifications 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.redis_server import start_redis
from notify_common.publish import build_event, publish

from bench.procstats import cpu_seconds, machine, raise_nofile_limit, rss_bytes

CONNECT_CONCURRENCY = 50
NS = "/notifications"


class Counter:
    def __init__(self, ack: bool) -> None:
        self.ack = ack
        """Acknowledge each notification (an `ack` frame / the Socket.IO ack): a receipt each."""
        self.connected = 0
        self.received = 0


async def native_client(http: aiohttp.ClientSession, url: str, token: str, seen: Counter) -> None:
    async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith('{"type":"notification"'):
                seen.received += 1
                if seen.ack:
                    nid = json.loads(msg.data)["notification"]["id"]
                    await ws.send_str(json.dumps({"type": "ack", "id": nid}))
            elif msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith('{"type":"catchup.done"'):
                seen.connected += 1


async def socketio_client(http: aiohttp.ClientSession, base: str, token: str, seen: Counter) -> None:
    """The Engine.IO/Socket.IO v4 wire protocol, as socket.io-client speaks it over WebSocket."""
    async with http.ws_connect(f"{base}/socket.io/?EIO=4&transport=websocket") as ws:
        await ws.send_str(f"40{NS}," + json.dumps({"token": token}))
        async for msg in ws:
            data = msg.data
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            if data == "2":
                await ws.send_str("3")
            elif data.startswith(f"42{NS},") and '["notification:new"' in data:
                seen.received += 1
                ack_id = data[len(f"42{NS},") : data.index("[")]
                if ack_id and seen.ack:
                    await ws.send_str(f"43{NS},{ack_id}[]")
            elif data.startswith(f'42{NS},["catchup.done"'):
                seen.connected += 1


async def measure(connections: int, notifications: int, ack: bool) -> dict[str, Any]:
    raise_nofile_limit()
    redis_server = start_redis()
    workdir = Path(tempfile.mkdtemp(prefix="sio-bench-"))
    env = {"LOG_FORMAT": "json", "LOG_LEVEL": "warning"}
    fleet = Fleet(redis_server.url, workdir, gateways=2, extra_env=env, services=("router",)).start()
    client = redis_async.Redis.from_url(redis_server.url)
    pids = {name: pid for name, pid in fleet.pids().items() if name.startswith("gateway")}
    tasks: list[asyncio.Task[None]] = []
    try:
        rss_before = {name: rss_bytes(pid) for name, pid in pids.items()}
        native_seen, sio_seen = Counter(ack), Counter(ack)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            native_url = fleet.gateway_url("gateway-1")
            sio_base = fleet.gateway_url("gateway-2").replace("ws://", "http://").removesuffix("/ws")
            for i in range(connections):
                token = dev_token(f"n{i}")
                tasks.append(asyncio.create_task(native_client(http, native_url, token, native_seen)))
                tasks.append(
                    asyncio.create_task(socketio_client(http, sio_base, dev_token(f"s{i}"), sio_seen))
                )
                if i % CONNECT_CONCURRENCY == CONNECT_CONCURRENCY - 1:
                    await _wait_connected(native_seen, sio_seen, i + 1)
            await _wait_connected(native_seen, sio_seen, connections)
            await asyncio.sleep(3)  # let both nodes settle (allocator, first pings)
            rss_after = {name: rss_bytes(pid) for name, pid in pids.items()}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            for k in range(notifications):
                event = build_event(id=f"b-{k}", type="bench", title="x" * 100, audience={"kind": "all"})
                await publish(client, event, prefix=fleet.key_prefix)
                await asyncio.sleep(0.25)
            await _wait_received(native_seen, sio_seen, connections * notifications)
            seconds = time.monotonic() - started
            await asyncio.sleep(1)  # acks processed
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await client.aclose()
        fleet.stop()
        redis_server.stop()
    per = {"gateway-1": "native", "gateway-2": "socketio"}
    seen = {"native": native_seen.received, "socketio": sio_seen.received}
    return {
        "machine": machine(),
        "load_1m": os.getloadavg()[0],
        "connections_each": connections,
        "notifications": notifications,
        "acknowledged": ack,
        "seconds": round(seconds, 1),
        "received": seen,
        "kb_per_idle_connection": {
            per[n]: round((rss_after[n] - rss_before[n]) / connections / 1024, 2) for n in pids
        },
        "gateway_cpu_us_per_delivery": {per[n]: round(cpu[n] / max(1, seen[per[n]]) * 1e6, 1) for n in pids},
    }


async def _wait_received(native: Counter, sio: Counter, want: int) -> None:
    deadline = time.monotonic() + 60
    while native.received < want or sio.received < want:
        if time.monotonic() > deadline:
            return  # reported as received < sent
        await asyncio.sleep(0.1)


async def _wait_connected(native: Counter, sio: Counter, want: int) -> None:
    deadline = time.monotonic() + 60
    while native.connected < want or sio.connected < want:
        assert time.monotonic() < deadline, (native.connected, sio.connected, want)
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--notifications", type=int, default=40)
    parser.add_argument("--ack", action="store_true", help="clients acknowledge every notification")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.connections, args.notifications, args.ack)), indent=2))


if __name__ == "__main__":
    main()
