"""SIGTERM: the node tells clients to reconnect elsewhere (1001 with a hint), leaves presence, exits 0."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.redis_server import start_redis
from gateway.drain_schedule import going_away_reason, retry_ms
from notify_common.keys import Keys
from notify_common.presence import online_by_role, user_presence

pytestmark = pytest.mark.e2e


async def test_sigterm_closes_clients_with_1001_and_removes_presence(tmp_path: Path) -> None:
    server = start_redis()
    fleet = Fleet(server.url, tmp_path, gateways=1, services=()).start()
    client = redis_async.Redis.from_url(server.url)
    keys = Keys(fleet.key_prefix)
    try:
        token = dev_token("u-1", roles=["driver"])
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(fleet.gateway_url(), headers={"Authorization": f"Bearer {token}"})
            assert "hello" in (await ws.receive(timeout=10)).data
            assert await user_presence(client, keys, "u-1") == {"gateway-1": 1}
            proc = fleet.processes["gateway-1"]
            proc.signal(signal.SIGTERM)
            while True:
                msg = await ws.receive(timeout=15)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
            assert (msg.data, msg.extra) == (1001, going_away_reason(retry_ms(5.0)))
        assert proc.process is not None
        assert await asyncio.to_thread(proc.process.wait, 15) == 0
        assert await client.hgetall(keys.user_presence("u-1")) == {}
        assert await online_by_role(client, keys) == {}
        assert await client.zscore(keys.live_nodes, "gateway-1") is None
    finally:
        await client.aclose()
        fleet.stop()
        server.stop()
