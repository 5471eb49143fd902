"""A node announced while a routing of a room audience that read the live nodes without it may
still write its room feed: the node takes no client before that routing's deadline
(notify_common.presence.in_flight, room routings), so its first clients' catch-ups find the
entry that routing wrote (its deliveries went only to the nodes it saw)."""

from __future__ import annotations

import aiohttp
import pytest
import redis.asyncio as redis_async
from devstack.polling import wait_until
from gwkit import GatewayFactory
from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.schemas import Notification
from notify_common.service import READINESS
from test_catchup import _feed_entry, collect, open_ws

DEADLINE_MS = 5000
"""Long enough that the node is still starting when the test asks, however slow its start."""


async def test_a_node_takes_clients_only_once_the_room_routings_that_missed_it_are_over(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory, rclient: redis_async.Redis, keys: Keys
) -> None:
    await rclient.zadd(
        keys.room_routings, {"router-live": now_ms() + DEADLINE_MS, "router-gone": now_ms() - 5}
    )
    gw = await gateway_factory()
    assert not gw.node.started() and not gw.running.app[READINESS]["started"]()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(gw.url())
    assert refused.value.status == 503
    async with http.get(gw.http_url()) as resp:
        assert resp.status == 503 and "node starting" in (await resp.json())["error"]
    assert await rclient.zrange(keys.room_routings, 0, -1) == [b"router-live"]  # the gone one dropped

    # what the routing in flight writes: the room feed entry, no delivery to the node it did not see
    for nid in ("seen", "late"):
        n = Notification(id=nid, type="test", created_ms=now_ms())
        await rclient.xadd(keys.room_feed("role:driver"), _feed_entry(n, f"{now_ms()}-{nid == 'late'}"))
    await wait_until(gw.node.started, timeout_s=DEADLINE_MS / 1000 + 5)
    ws = await open_ws(http, gw, "starter", "?last_id=seen", roles=["driver"])
    ids, marker = await collect(ws, "|marker|")
    assert ids == ["late", "|marker|"] and marker["count"] == 1
    await ws.close()


async def test_a_node_with_no_room_routing_in_flight_takes_clients_at_once(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory, rclient: redis_async.Redis, keys: Keys
) -> None:
    await rclient.zadd(keys.room_routings, {"router-done": now_ms() - 1})
    gw = await gateway_factory()
    assert gw.node.started()
    ws = await open_ws(http, gw, "at-once")
    await ws.close()
    assert not await rclient.exists(keys.room_routings)
