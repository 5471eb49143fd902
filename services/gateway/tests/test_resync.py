"""Redis lost this node's presence (restarted empty, failed over behind, or the node was cleaned
up as dead): the node announces its connections again and resends what its clients missed."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as redis_async
from devstack.polling import wait_until
from gateway import resync
from gwkit import GatewayFactory, RunningGateway, connect_live, frame_of_type, make_token
from notify_common import presence
from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.presence import live_nodes, online_by_role, user_presence
from notify_common.schemas import FIELD_FEED_NOTIFICATION, FIELD_FEED_ORIGIN, Notification, encode


async def forget_everything(client: redis_async.Redis, keys: Keys) -> None:
    """What a Redis restarted without persistence shows this fleet: none of its keys."""
    doomed = [key async for key in client.scan_iter(match=f"{keys.prefix}:*")]
    if doomed:
        await client.delete(*doomed)


async def test_presence_is_announced_again_after_redis_lost_it(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    client, keys = gateway.node.client, gateway.keys
    phone = await connect_live(http, gateway, make_token("d1", ["driver"]))
    tablet = await connect_live(http, gateway, make_token("d1", ["driver"]))
    other = await connect_live(http, gateway, make_token("c1", ["customer"]))
    await forget_everything(client, keys)

    async def rebuilt() -> bool:
        return (
            await user_presence(client, keys, "d1") == {"gw-test": 2}
            and await user_presence(client, keys, "c1") == {"gw-test": 1}
            and await online_by_role(client, keys) == {"driver": 1, "customer": 1}
            and "gw-test" in await live_nodes(client, keys)
            and not gateway.node.resyncing
        )

    await wait_until(rebuilt)
    # and the counts stay right as devices leave afterwards
    await phone.close()
    await tablet.close()

    async def driver_offline() -> bool:
        return await online_by_role(client, keys) == {"customer": 1}

    await wait_until(driver_offline)
    await other.close()


async def test_connected_client_gets_what_was_routed_while_its_presence_was_lost(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gateway = await gateway_factory(heartbeat_ms=60_000)  # the test drives the heartbeat itself
    client, keys, node = gateway.node.client, gateway.keys, gateway.node
    ws = await connect_live(http, gateway, make_token("d1", ["driver"]))
    intact_ms = now_ms()
    await forget_everything(client, keys)
    # The router found d1 offline: push only, but the feeds get it (a unicast and a broadcast).
    for feed, nid in ((keys.user_feed("d1"), "missed-1"), (keys.room_feed("role:driver"), "missed-2")):
        n = Notification(id=nid, type="test", created_ms=now_ms())
        await client.xadd(feed, {FIELD_FEED_NOTIFICATION: encode(n), FIELD_FEED_ORIGIN: "1-0"})

    assert not await presence.heartbeat(client, keys, node.cfg.node_id, 15_000)
    assert "gw-test" not in await live_nodes(client, keys)  # not announced before the hold
    rebuilding = asyncio.create_task(resync.rebuild(node, intact_ms))
    await asyncio.sleep(0)  # the resync has begun: live frames from here wait for the replay
    await gateway.deliver("routed-after", user_ids=["d1"])
    await rebuilding

    got = [(await frame_of_type(ws, "notification"))["notification"]["id"] for _ in range(3)]
    assert set(got[:2]) == {"missed-1", "missed-2"}
    assert got[2] == "routed-after"  # never before what it was routed after
    assert await user_presence(client, keys, "d1") == {"gw-test": 1}
    assert await presence.heartbeat(client, keys, node.cfg.node_id, 15_000)
    # live delivery goes on afterwards
    await gateway.deliver("live-1", user_ids=["d1"])
    assert (await frame_of_type(ws, "notification"))["notification"]["id"] == "live-1"
    await ws.close()


async def test_heartbeat_reports_a_node_cleaned_up_by_a_survivor(gateway: RunningGateway) -> None:
    client, keys = gateway.node.client, gateway.keys
    node_id = "gw-elsewhere"  # not this gateway's own id: its heartbeat loop must not interfere
    assert not await presence.heartbeat(client, keys, node_id, 15_000)  # never announced
    await presence.mark_alive(client, keys, node_id)
    assert await presence.heartbeat(client, keys, node_id, 15_000)
    await presence.remove_node(client, keys, node_id)
    assert not await presence.heartbeat(client, keys, node_id, 15_000)
    assert node_id not in await live_nodes(client, keys)


async def test_heartbeat_reports_a_node_silent_longer_than_its_ttl(gateway: RunningGateway) -> None:
    client, keys = gateway.node.client, gateway.keys
    node_id = "gw-elsewhere"
    await presence.mark_alive(client, keys, node_id)
    await client.zadd(keys.live_nodes, {node_id: 1})  # its last heartbeat long ago
    assert not await presence.heartbeat(client, keys, node_id, 15_000)
