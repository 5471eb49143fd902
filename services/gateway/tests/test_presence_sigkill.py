"""A gateway process killed with SIGKILL leaves no user online: real processes, real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest
import redis.asyncio as redis_async
from devstack.fleet import Fleet, dev_token
from devstack.polling import wait_until
from devstack.redis_server import RedisServer, start_redis
from notify_common.keys import Keys
from notify_common.presence import online_by_role, user_presence

pytestmark = pytest.mark.e2e

NODE_TTL_MS = 1500


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    server: RedisServer = start_redis()
    fleet = Fleet(
        server.url,
        tmp_path_factory.mktemp("gateways"),
        gateways=2,
        services=(),
        extra_env={"NODE_TTL_MS": str(NODE_TTL_MS), "HEARTBEAT_MS": "300"},
    ).start()
    try:
        yield fleet
    finally:
        fleet.stop()
        server.stop()


async def test_presence_of_a_sigkilled_node_disappears_within_ttl_plus_sweep(gateways: Fleet) -> None:
    client = redis_async.Redis.from_url(gateways.redis_url)
    keys = Keys(gateways.key_prefix)
    token = dev_token("u-1", roles=["driver"])
    async with aiohttp.ClientSession() as http:
        on_1 = await http.ws_connect(
            gateways.gateway_url("gateway-1"), headers={"Authorization": f"Bearer {token}"}
        )
        on_2 = await http.ws_connect(
            gateways.gateway_url("gateway-2"), headers={"Authorization": f"Bearer {token}"}
        )
        await on_1.receive(timeout=10)
        await on_2.receive(timeout=10)

        async def on_both() -> bool:
            return await user_presence(client, keys, "u-1") == {"gateway-1": 1, "gateway-2": 1}

        await wait_until(on_both, 15)
        gateways.processes["gateway-2"].kill()

        # remove_node takes the users first and the node's live entry last (it counts before it
        # deletes), so the whole end state is waited for, not read right after its first step.
        async def only_survivor() -> bool:
            return (
                await client.hgetall(keys.user_presence("u-1")) == {b"gateway-1": b"1"}
                and await client.zscore(keys.live_nodes, "gateway-2") is None
            )

        await wait_until(only_survivor, 15)
        assert await online_by_role(client, keys) == {"driver": 1}
        await on_1.close()

        async def offline() -> bool:
            return await online_by_role(client, keys) == {} and await user_presence(client, keys, "u-1") == {}

        await wait_until(offline, 15)
        await on_2.close()
    await client.aclose()
