"""The admin trail and stats follow one notification across socket, push and read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from history.admin import stats, trail
from history.db import Database
from history.inbox import mark_read
from history.ingest import rows_of
from history.records import DeliveryRow
from history.writes import write_events, write_receipts
from notify_common.publish import build_event
from notify_common.rooms import member_rooms

T0 = int(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp() * 1000)


async def store(
    db: Database, notification_id: str, audience: dict[str, Any], type_: str = "order.shipped"
) -> None:
    event = build_event(id=notification_id, type=type_, audience=audience)
    row, recipients = rows_of(event, f"{T0}-0")
    await write_events(db, [row], recipients)


def receipt(
    nid: str, user: str, kind: str, channel: str, dt_ms: int, node: str = "", error: str = ""
) -> DeliveryRow:
    return (nid, user, kind, channel, T0 + dt_ms, node, error)


def kinds(entries: Sequence[Any]) -> list[tuple[str, str, str]]:
    return [(e.user_id, e.kind, e.channel) for e in entries]


async def test_trail_shows_socket_push_and_read_in_time_order(db: Database) -> None:
    await store(db, "n1", {"kind": "users", "ids": ["alice", "bob"]})
    await write_receipts(
        db,
        [
            receipt("n1", "alice", "delivered", "socket", 10, node="gateway-2"),
            receipt("n1", "bob", "push_failed", "push", 20, node="pw-1", error="UNAVAILABLE"),
            receipt("n1", "bob", "pushed", "push", 900, node="pw-1"),
        ],
    )
    assert await mark_read(db, "alice", member_rooms([]), "n1", T0 + 1000) is True
    found = await trail(db, "n1")
    assert found is not None
    assert kinds(found.deliveries) == [
        ("alice", "delivered", "socket"),
        ("bob", "push_failed", "push"),
        ("bob", "pushed", "push"),
        ("alice", "read", ""),
    ]
    assert found.deliveries[0].node == "gateway-2"
    assert found.deliveries[1].error == "UNAVAILABLE"
    assert [(r.user_id, r.read_ms) for r in found.recipients] == [("alice", T0 + 1000), ("bob", None)]


async def test_read_receipt_from_a_device_sets_the_read_state(db: Database) -> None:
    await store(db, "n1", {"kind": "users", "ids": ["alice"]})
    await write_receipts(db, [receipt("n1", "alice", "read", "socket", 50, node="gateway-1")])
    found = await trail(db, "n1")
    assert found is not None
    assert found.recipients[0].read_ms == T0 + 50


async def test_read_receipt_of_a_broadcast_sets_only_that_readers_broadcast_read(db: Database) -> None:
    await store(db, "b1", {"kind": "role", "role": "driver"})
    await store(db, "n1", {"kind": "users", "ids": ["alice"]})
    await write_receipts(
        db,
        [
            receipt("b1", "alice", "read", "socket", 40, node="gateway-1"),
            receipt("n1", "alice", "read", "socket", 50, node="gateway-1"),
        ],
    )
    found = await trail(db, "b1")
    assert found is not None
    assert [(r.user_id, r.read_ms) for r in found.broadcast_reads] == [("alice", T0 + 40)]


async def test_geo_recipients_come_from_their_receipts(db: Database) -> None:
    await write_receipts(db, [receipt("g1", "early", "delivered", "socket", 5)])
    await store(db, "g1", {"kind": "geo", "role": "driver", "lat": 1.0, "lon": 2.0, "radius_m": 500})
    await write_receipts(db, [receipt("g1", "late", "pushed", "push", 9)])
    found = await trail(db, "g1")
    assert found is not None
    assert [r.user_id for r in found.recipients] == ["early", "late"]


async def test_unknown_notification_has_no_trail(db: Database) -> None:
    assert await trail(db, "nope") is None


async def test_stats_count_recipients_per_type_and_day_with_rates(db: Database) -> None:
    await store(db, "n1", {"kind": "users", "ids": ["a", "b", "c", "d"]})
    await store(db, "n2", {"kind": "all"}, type_="promo")
    await write_receipts(
        db,
        [
            receipt("n1", "a", "delivered", "socket", 1),
            receipt("n1", "a", "acked", "socket", 2),
            receipt("n1", "b", "pushed", "push", 3),
            receipt("n1", "c", "push_failed", "push", 4),
            receipt("n1", "a", "read", "socket", 5),
            receipt("n2", "x", "delivered", "socket", 6),
        ],
    )
    day = T0 - T0 % 86_400_000
    by_type = {s.type: s for s in await stats(db, day, day + 86_400_000)}
    orders = by_type["order.shipped"]
    assert (orders.day, orders.notifications, orders.sent) == ("2026-11-20", 1, 4)
    assert (orders.delivered_socket, orders.pushed, orders.failed, orders.read) == (1, 1, 1, 1)
    assert orders.read_rate == 0.25
    promo = by_type["promo"]
    assert (promo.sent, promo.delivered_socket, promo.delivered_rate) == (1, 1, 1.0)
