"""Presence: multi-device counts per node, online users by role, cleanup of dead nodes."""

from __future__ import annotations

import aiohttp
import redis.asyncio as redis_async
from devstack.polling import wait_until
from gwkit import GatewayFactory, RunningGateway, connect_live, make_token
from notify_common.presence import (
    connections_by_node,
    live_nodes,
    online_by_role,
    user_presence,
    write_changes,
)


async def test_two_devices_on_two_nodes_are_counted_in_one_read(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    a = await gateway_factory("gw-a")
    b = await gateway_factory("gw-b")
    token = make_token("42", ["driver"])
    phone = await connect_live(http, a, token)
    tablet = await connect_live(http, a, token)
    laptop = await connect_live(http, b, token)
    assert await user_presence(a.node.client, a.keys, "42") == {"gw-a": 2, "gw-b": 1}
    alive = await live_nodes(a.node.client, a.keys)
    assert await connections_by_node(a.node.client, a.keys, ["42"], alive) == {"42": {"gw-a": 2, "gw-b": 1}}
    for ws in (phone, tablet, laptop):
        await ws.close()


async def test_user_is_offline_after_the_last_device_leaves(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    token = make_token("42", ["driver"])
    first = await connect_live(http, gateway, token)
    second = await connect_live(http, gateway, token)
    await first.close()

    async def one_left() -> bool:
        return await user_presence(gateway.node.client, gateway.keys, "42") == {"gw-test": 1}

    await wait_until(one_left)
    await second.close()

    async def offline() -> bool:
        return await user_presence(gateway.node.client, gateway.keys, "42") == {}

    await wait_until(offline)


async def test_online_users_by_role_count_users_not_devices(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    client = gateway.node.client
    d1 = [await connect_live(http, gateway, make_token("d1", ["driver"])) for _ in range(2)]
    d2 = await connect_live(http, gateway, make_token("d2", ["driver", "admin"]))
    c1 = await connect_live(http, gateway, make_token("c1", ["customer"]))
    assert await online_by_role(client, gateway.keys) == {"driver": 2, "admin": 1, "customer": 1}
    for ws in [*d1, d2]:
        await ws.close()

    async def only_customer() -> bool:
        return await online_by_role(client, gateway.keys) == {"customer": 1}

    await wait_until(only_customer)
    await c1.close()


async def test_survivor_removes_a_silent_node_and_fixes_role_counts(
    rclient: redis_async.Redis, gateway_factory: GatewayFactory
) -> None:
    gw = await gateway_factory("gw-alive", node_ttl_ms=500)
    keys = gw.keys
    # A node that announced one driver and then went silent (its heartbeat is a minute old).
    await write_changes(rclient, keys, "gw-dead", [(1, "7", ("driver",))])
    await rclient.zadd(keys.live_nodes, {"gw-dead": 1})

    async def cleaned() -> bool:
        return (
            await rclient.hgetall(keys.user_presence("7")) == {}
            and await rclient.zscore(keys.live_nodes, "gw-dead") is None
            and await online_by_role(rclient, keys) == {}
            and await rclient.exists(keys.node_users("gw-dead"), keys.user_connections("7")) == 0
        )

    await wait_until(cleaned)
