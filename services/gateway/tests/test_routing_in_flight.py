"""A client registering while a routing of its user is between its presence read and its writes:
the routing saw only the node the user had (here one that died), so catch-up must wait for the
routing's writes and read again (notify_common.presence.in_flight)."""

from __future__ import annotations

import aiohttp
import redis.asyncio as redis_async
from devstack.polling import wait_until
from gwkit import RunningGateway, make_token, next_frame
from notify_common.clock import now_ms
from notify_common.keys import Keys
from notify_common.presence import live_nodes, mark_alive, recipient_from, recipient_read
from notify_common.presence.in_flight import RoutingMark, release_command, routing_mark
from notify_common.presence.scripts import READ_RECIPIENT
from notify_common.schemas import FIELD_DELIVERY, NodeDelivery, Notification, encode
from prometheus_client import REGISTRY
from test_catchup import _feed_entry, collect, open_ws

OLD_NODE = "gw-died"


def _waits() -> float:
    return REGISTRY.get_sample_value("nf_gateway_catchup_routing_waits_total") or 0.0


async def _read_as_a_router(
    redis: redis_async.Redis, keys: Keys, user_id: str, mark: RoutingMark
) -> dict[str, int]:
    """The router's presence read of `user_id`, leaving `mark`; returns the live nodes it saw."""
    await READ_RECIPIENT.load(redis)
    reply = await redis.execute_command(*recipient_read(keys, user_id, 0, 60, mark))
    nodes, _, _ = recipient_from(reply, await live_nodes(redis, keys, 30_000))
    return nodes


async def _write_as_a_router(
    redis: redis_async.Redis, keys: Keys, user_id: str, nid: str, mark: RoutingMark, nodes: dict[str, int]
) -> None:
    """The routing's writes: the user's feed entry, the deliveries to the nodes it saw, the mark's
    removal last."""
    n = Notification(id=nid, type="test", created_ms=now_ms())
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(keys.user_feed(user_id), _feed_entry(n, f"{now_ms()}-0"))
    for node in nodes:
        delivery = NodeDelivery(notification=n, user_ids=[user_id])
        pipe.xadd(keys.node_deliveries(node), {FIELD_DELIVERY: encode(delivery)})
    pipe.execute_command(*release_command(keys, user_id, mark))
    await pipe.execute()


async def test_a_routing_in_flight_while_a_client_registers_reaches_it_through_its_catch_up(
    http: aiohttp.ClientSession, gateway: RunningGateway, rclient: redis_async.Redis
) -> None:
    keys = gateway.keys
    user = "in-flight-1"
    await mark_alive(rclient, keys, OLD_NODE)  # the node the user was on, dead but not yet judged so
    await rclient.hincrby(keys.user_presence(user), OLD_NODE, 1)
    mark = routing_mark("test:1", 10.0)
    nodes = await _read_as_a_router(rclient, keys, user, mark)
    assert nodes == {OLD_NODE: 1}  # the routing does not know the new connection
    waits = _waits()
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    ws = await http.ws_connect(gateway.url() + "?last_id=none-seen", headers=headers)
    # its catch-up has read the feed (empty) and waits for the routing in flight (the 101 and
    # hello, held for the opening burst, leave before that wait)
    await wait_until(lambda: _waits() > waits, timeout_s=10)
    await _write_as_a_router(rclient, keys, user, "late-1", mark, nodes)
    assert (await next_frame(ws))["type"] == "hello"
    ids, marker = await collect(ws, "|marker|")
    assert ids == ["late-1", "|marker|"]
    assert marker["count"] == 1
    await ws.close()


async def test_a_routing_that_never_writes_holds_catch_up_only_until_its_deadline(
    http: aiohttp.ClientSession, gateway: RunningGateway, rclient: redis_async.Redis
) -> None:
    keys = gateway.keys
    user = "in-flight-2"
    mark = routing_mark("test:died", 0.1)  # the router died after its read: deadline in ~1.1 s
    await _read_as_a_router(rclient, keys, user, mark)
    ws = await open_ws(http, gateway, user)
    ids, _ = await collect(ws, "|marker|")
    assert ids == ["|marker|"]
    assert now_ms() >= mark.deadline_ms
    await ws.close()
