"""Catch-up: what a reconnecting (or first-time) client missed, then a marker, then live."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
from gwkit import RunningGateway, make_token, next_frame
from notify_common.clock import now_ms
from notify_common.rooms import ALL, role_room
from notify_common.schemas import (
    FIELD_DELIVERY,
    FIELD_FEED_NOTIFICATION,
    FIELD_FEED_ORIGIN,
    NodeDelivery,
    Notification,
    encode,
)

_ingress_seq = itertools.count()


def _feed_entry(n: Notification, origin: str) -> dict[bytes, bytes | str]:
    return {FIELD_FEED_NOTIFICATION: encode(n), FIELD_FEED_ORIGIN: origin}


async def publish(gw: RunningGateway, nid: str, user_ids: list[str] = (), rooms: list[str] = ()) -> None:  # type: ignore[assignment]
    """What the router writes for one notification: feed entries, then the node delivery."""
    now = now_ms()
    n = Notification(id=nid, type="test", created_ms=now)
    origin = f"{now}-{next(_ingress_seq)}"
    pipe = gw.node.client.pipeline(transaction=False)
    for user_id in user_ids:
        pipe.xadd(gw.keys.user_feed(user_id), _feed_entry(n, origin), maxlen=200, approximate=True)
    for room in rooms:
        pipe.xadd(gw.keys.room_feed(room), _feed_entry(n, origin), maxlen=1000, approximate=True)
    delivery = NodeDelivery(notification=n, user_ids=list(user_ids), rooms=list(rooms))
    pipe.xadd(gw.keys.node_deliveries(gw.node.cfg.node_id), {FIELD_DELIVERY: encode(delivery)})
    await pipe.execute()


async def collect(ws: aiohttp.ClientWebSocketResponse, until_id: str) -> tuple[list[str], dict[str, Any]]:
    """Notification ids received until `until_id`, and the catch-up marker seen on the way."""
    ids: list[str] = []
    marker: dict[str, Any] = {}
    while not ids or ids[-1] != until_id:
        frame = await next_frame(ws)
        if frame["type"] == "notification":
            ids.append(frame["notification"]["id"])
        elif frame["type"] == "catchup.done":
            marker = frame
            ids.append("|marker|")
    return ids, marker


async def open_ws(
    http: aiohttp.ClientSession,
    gw: RunningGateway,
    user: str,
    query: str = "",
    roles: list[str] | None = None,
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(
        gw.url() + query, headers={"Authorization": f"Bearer {make_token(user, roles)}"}
    )
    assert (await next_frame(ws))["type"] == "hello"
    return ws


async def test_reconnect_with_last_id_replays_the_rest_in_order_then_marker_then_live(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    for i in range(5):
        await publish(gateway, f"n-{i}", user_ids=["42"])
    ws = await open_ws(http, gateway, "42", "?last_id=n-1")
    await asyncio.sleep(0)
    ids, marker = await collect(ws, "|marker|")
    assert ids == ["n-2", "n-3", "n-4", "|marker|"]
    assert marker == {"type": "catchup.done", "count": 3, "gap": False}
    await publish(gateway, "n-5", user_ids=["42"])
    assert (await next_frame(ws))["notification"]["id"] == "n-5"


async def test_broadcasts_to_the_users_rooms_are_merged_in_stream_order(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    await publish(gateway, "a", user_ids=["42"])
    await publish(gateway, "b", rooms=[role_room("driver")])
    await publish(gateway, "c", rooms=[role_room("customer")])
    await publish(gateway, "d", user_ids=["42"])
    await publish(gateway, "e", rooms=[ALL])
    assert await _replayed_to_driver_42(http, gateway) == ["b", "d", "e", "|marker|"]


async def _replayed_to_driver_42(http: aiohttp.ClientSession, gateway: RunningGateway) -> list[str]:
    """What a driver, user 42, connecting with last_id=a is sent up to the catch-up marker."""
    ws = await open_ws(http, gateway, "42", "?last_id=a", roles=["driver"])
    ids, _ = await collect(ws, "|marker|")
    return ids


async def test_feeds_written_within_one_millisecond_merge_in_ingress_order(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    # Every feed numbers its own entries from <ms>-0: only the ingress id orders b before d.
    ms = now_ms()
    writes = [  # (feed, feed entry id, notification, ingress id)
        (gateway.keys.user_feed("42"), f"{ms}-0", "a", f"{ms}-0"),
        (gateway.keys.room_feed(role_room("driver")), f"{ms}-0", "b", f"{ms}-1"),
        (gateway.keys.room_feed(role_room("customer")), f"{ms}-0", "c", f"{ms}-2"),
        (gateway.keys.user_feed("42"), f"{ms}-1", "d", f"{ms}-3"),
        (gateway.keys.room_feed(ALL), f"{ms}-0", "e", f"{ms}-4"),
    ]
    pipe = gateway.node.client.pipeline(transaction=False)
    for feed, entry_id, nid, origin in writes:
        pipe.xadd(feed, _feed_entry(Notification(id=nid, type="test", created_ms=ms), origin), id=entry_id)
    await pipe.execute()
    assert await _replayed_to_driver_42(http, gateway) == ["b", "d", "e", "|marker|"]


async def test_first_connect_without_last_id_gets_the_users_queued_notifications(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    await publish(gateway, "q-1", user_ids=["42"])
    await publish(gateway, "room-1", rooms=[ALL])
    await publish(gateway, "q-2", user_ids=["42"])
    ws = await open_ws(http, gateway, "42")
    ids, marker = await collect(ws, "|marker|")
    assert ids == ["q-1", "q-2", "|marker|"]
    assert marker["gap"] is False


async def test_unknown_last_id_replays_the_window_and_reports_a_gap(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    await publish(gateway, "n-1", user_ids=["42"])
    ws = await open_ws(http, gateway, "42", "?last_id=long-gone")
    ids, marker = await collect(ws, "|marker|")
    assert ids == ["n-1", "|marker|"]
    assert marker["gap"] is True


async def test_catchup_is_bounded_by_the_newest_entries(
    http: aiohttp.ClientSession, gateway_factory: Any
) -> None:
    gw = await gateway_factory(catchup_max=3)
    for i in range(6):
        await publish(gw, f"n-{i}", user_ids=["42"])
    ws = await open_ws(http, gw, "42")
    ids, _ = await collect(ws, "|marker|")
    assert ids == ["n-3", "n-4", "n-5", "|marker|"]


async def test_live_traffic_during_catchup_is_neither_lost_nor_duplicated(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    total = 300
    for i in range(150):
        await publish(gateway, f"n-{i:03}", user_ids=["42"], rooms=[])
    started = asyncio.Event()

    async def keep_publishing() -> None:
        for i in range(150, total):
            await publish(gateway, f"n-{i:03}", user_ids=["42"])
            if i == 160:
                started.set()
            await asyncio.sleep(0)

    publisher = asyncio.create_task(keep_publishing())
    await started.wait()
    ws = await open_ws(http, gateway, "42", "?last_id=n-099")
    ids, _ = await collect(ws, f"n-{total - 1:03}")
    await publisher
    notifications = [i for i in ids if i != "|marker|"]
    assert notifications == [f"n-{i:03}" for i in range(100, total)]
    assert ids.count("|marker|") == 1
