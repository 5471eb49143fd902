"""Audience resolution and per-node fan-out over a real Redis with registered fake nodes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from notify_common.clock import now_ms
from notify_common.consumer import REDIS_DOWN_ERRORS, Entry
from notify_common.fastpack import pack_with_hiredis
from notify_common.publish import build_event
from notify_common.redis_conn import connect
from notify_common.schemas import FIELD_EVENT, FIELD_FEED_ORIGIN, Event
from router.routing import Router, recipient_chunks

from .conftest import Harness, MakeHarness


def ev(audience: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "test.event", "audience": audience, **fields}


def users(*ids: str) -> dict[str, Any]:
    return {"kind": "users", "ids": list(ids)}


async def test_users_on_two_nodes_get_one_entry_per_node_with_their_local_recipients(
    harness: Harness,
) -> None:
    await harness.node("gw-a", "u1", "u2")
    await harness.node("gw-b", "u3")
    await harness.route(ev(users("u1", "u2", "u3"), id="e1"))
    a, b = await harness.deliveries("gw-a"), await harness.deliveries("gw-b")
    assert [(d.notification.id, sorted(d.user_ids), d.rooms) for d in a] == [("e1", ["u1", "u2"], [])]
    assert [(d.notification.id, d.user_ids) for d in b] == [("e1", ["u3"])]
    assert await harness.push_jobs() == []


async def test_offline_users_get_one_push_job_and_a_feed_entry(harness: Harness) -> None:
    await harness.node("gw-a", "online")
    await harness.route(ev(users("online", "off1", "off2"), id="e2"))
    jobs = await harness.push_jobs()
    assert [(j.notification.id, j.user_ids, j.topic) for j in jobs] == [("e2", ["off1", "off2"], None)]
    assert [n.id for n in await harness.feed("off1")] == ["e2"]
    assert [n.id for n in await harness.feed("online")] == ["e2"]


async def test_thousands_of_users_in_one_event_make_one_entry_per_node_and_one_push_job(
    harness: Harness,
) -> None:
    ids = [f"user-{i}" for i in range(5000)]
    for i, user_id in enumerate(ids[:3000]):
        await harness.client.hset(harness.keys.user_presence(user_id), "gw-a" if i % 2 else "gw-b", 1)
    await harness.node("gw-a")
    await harness.node("gw-b")
    await harness.route(ev(users(*ids), id="big"))
    a, b = await harness.deliveries("gw-a"), await harness.deliveries("gw-b")
    assert len(a) == 1 and len(b) == 1
    assert len(a[0].user_ids) + len(b[0].user_ids) == 3000
    jobs = await harness.push_jobs()
    assert len(jobs) == 1 and len(jobs[0].user_ids) == 2000


async def test_role_broadcast_goes_to_every_live_node_as_a_room_without_listing_users(
    harness: Harness,
) -> None:
    await harness.node("gw-a", "d1")
    await harness.node("gw-b")
    await harness.route(ev({"kind": "role", "role": "driver"}, id="r1"))
    for node in ("gw-a", "gw-b"):
        assert [(d.notification.id, d.user_ids, d.rooms) for d in await harness.deliveries(node)] == [
            ("r1", [], ["role:driver"])
        ]
    assert [n.id for n in await harness.room_feed("role:driver")] == ["r1"]
    assert [(j.topic, j.user_ids) for j in await harness.push_jobs()] == [("role-driver", [])]


async def test_all_and_topic_broadcasts_use_their_rooms_and_fcm_topics(harness: Harness) -> None:
    await harness.node("gw-a")
    await harness.route(ev({"kind": "all"}, id="a1"), ev({"kind": "topic", "topic": "trip:9"}, id="t1"))
    rooms = [(d.notification.id, d.rooms) for d in await harness.deliveries("gw-a")]
    assert rooms == [("a1", ["all"]), ("t1", ["topic:trip:9"])]
    assert [j.topic for j in await harness.push_jobs()] == ["all", "topic-trip%3A9"]


async def test_dead_node_gets_nothing_and_its_users_count_as_offline(harness: Harness) -> None:
    await harness.node("gw-dead", "u1")
    await harness.client.zadd(harness.keys.live_nodes, {"gw-dead": now_ms() - 60_000})
    await harness.route(ev(users("u1"), id="d1"), ev({"kind": "all"}, id="d2"))
    assert await harness.deliveries("gw-dead") == []
    assert [j.user_ids for j in await harness.push_jobs() if j.topic is None] == [["u1"]]


async def test_geo_audience_reaches_the_nearest_fresh_positions_up_to_the_limit(harness: Harness) -> None:
    await harness.node("gw-a", "near", "nearer", "stale", "far")
    now = now_ms()
    keys = harness.keys
    await harness.client.geoadd(keys.locations("driver"), [13.4050, 52.5200, "nearer"])
    await harness.client.geoadd(keys.locations("driver"), [13.4100, 52.5200, "near"])
    await harness.client.geoadd(keys.locations("driver"), [13.4060, 52.5200, "stale"])
    await harness.client.geoadd(keys.locations("driver"), [14.5000, 52.5200, "far"])
    seen = {"nearer": now, "near": now, "far": now, "stale": now - 3_600_000}
    await harness.client.zadd(keys.location_seen("driver"), seen)
    geo = {"kind": "geo", "role": "driver", "lat": 52.52, "lon": 13.405, "radius_m": 5000, "limit": 1}
    await harness.route(ev(geo, id="g1"), ev({**geo, "limit": 10}, id="g2"))
    got = {d.notification.id: d.user_ids for d in await harness.deliveries("gw-a")}
    assert got == {"g1": ["nearer"], "g2": ["nearer", "near"]}


async def test_geo_audience_with_nobody_near_delivers_nothing(harness: Harness) -> None:
    await harness.node("gw-a")
    geo = {"kind": "geo", "role": "driver", "lat": 0.0, "lon": 0.0, "radius_m": 100}
    outcome = await harness.route(ev(geo, id="g3"))
    assert outcome.dead == {}
    assert await harness.deliveries("gw-a") == []


async def test_bad_entries_are_dead_lettered_and_the_rest_of_the_batch_is_routed(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    good = await harness.publish(ev(users("u1"), id="ok"))
    bad_audience = Entry("1-1", {FIELD_EVENT: msgspec.json.encode(ev({"kind": "planet", "name": "mars"}))})
    not_json = Entry("1-2", {FIELD_EVENT: b"{not json"})
    no_field = Entry("1-3", {b"other": b"x"})
    outcome = await harness.handle([bad_audience, not_json, *good, no_field])
    assert set(outcome.dead) == {"1-1", "1-2", "1-3"}
    assert "planet" in outcome.dead["1-1"]
    assert "missing field 'event'" in outcome.dead["1-3"]
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["ok"]


async def test_an_event_that_breaks_routing_is_retried_alone_and_the_batch_is_routed(
    harness: Harness,
) -> None:
    await harness.node("gw-a", "u1")
    await harness.client.set(harness.keys.user_presence("broken"), "not a hash")  # WRONGTYPE
    entries = await harness.publish(ev(users("u1"), id="fine"), ev(users("broken"), id="breaks"))
    outcome = await harness.handle(entries)
    assert list(outcome.retry) == [entries[1].id]
    assert "WRONGTYPE" in outcome.retry[entries[1].id]
    assert "fine" in [d.notification.id for d in await harness.deliveries("gw-a")]


async def test_batch_outliving_the_routing_timeout_raises_a_redis_down_error(
    redis_url: str, harness: Harness
) -> None:
    fast = pack_with_hiredis(connect(redis_url, per_read_timeout=False))
    cfg = msgspec.structs.replace(harness.cfg, routing_timeout_s=0.2)
    router = Router(fast, harness.keys, cfg)
    entries = await harness.publish(ev(users("u1"), id="slow"))
    await harness.client.execute_command("CLIENT", "PAUSE", 1000, "WRITE")
    try:
        with pytest.raises(REDIS_DOWN_ERRORS):  # the consumer backs off; the batch stays pending
            await router.handle(entries)
    finally:
        await harness.client.execute_command("CLIENT", "UNPAUSE")
        await router.aclose()
        await fast.aclose()


async def test_batch_with_many_recipients_is_routed_in_bounded_chunks(make_harness: MakeHarness) -> None:
    harness = make_harness(routing_chunk_recipients=3000, rate_limit_per_user=0)
    await harness.node("gw-a")
    pipe = harness.client.pipeline(transaction=False)
    for i in range(5000):
        pipe.hset(harness.keys.user_presence(f"c{i}"), "gw-a", 1)
    await pipe.execute()
    big = [ev(users(*[f"c{(j * 37 + i) % 5000}" for i in range(2000)]), id=f"chunk-{j}") for j in range(5)]
    await harness.route(*big)
    got = [(d.notification.id, len(d.user_ids)) for d in await harness.deliveries("gw-a")]
    assert got == [(f"chunk-{j}", 2000) for j in range(5)]


def test_recipient_chunks_keep_order_and_give_an_oversized_event_its_own_chunk() -> None:
    def item(n: int) -> tuple[str, Event]:
        return (str(n), build_event(type="t", audience=users(*[f"u{i}" for i in range(n)])))

    items = [item(5), item(4), item(20), item(1), item(1)]
    assert [[e for e, _ in c] for c in recipient_chunks(items, 10)] == [["5", "4"], ["20"], ["1", "1"]]


async def test_feed_entries_carry_the_ingress_id_they_were_routed_from(harness: Harness) -> None:
    entries = await harness.publish(ev(users("u1"), id="e1"), ev({"kind": "role", "role": "driver"}, id="e2"))
    await harness.handle(entries)
    user_feed = await harness.client.xrange(harness.keys.user_feed("u1"))
    room_feed = await harness.client.xrange(harness.keys.room_feed("role:driver"))
    assert [f[FIELD_FEED_ORIGIN].decode() for _, f in user_feed] == [entries[0].id]
    assert [f[FIELD_FEED_ORIGIN].decode() for _, f in room_feed] == [entries[1].id]


async def test_routing_reads_presence_after_redis_lost_its_script_cache(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(ev(users("u1"), id="before"))
    await harness.client.script_flush()  # as after a restart: the recipient reads meet NOSCRIPT
    await harness.route(ev(users("u1"), id="after"))
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["before", "after"]
    assert await harness.push_jobs() == []


async def test_recipients_are_marked_in_flight_until_the_batch_writes_after_their_feeds(
    harness: Harness,
) -> None:
    await harness.node("gw-a", "u1")
    entries = await harness.publish(ev(users("u1", "u2"), id="e-mark"))
    outcome = await harness.router.handle(entries)
    marks = [harness.keys.routing_marks(u) for u in ("u1", "u2")]
    assert [await harness.client.zcard(key) for key in marks] == [1, 1]  # read, not yet written
    effects = outcome.effects or []
    for user_id, key in zip(("u1", "u2"), marks, strict=True):
        feed_at = [
            i for i, c in enumerate(effects) if c[0] == "XADD" and c[1] == harness.keys.user_feed(user_id)
        ]
        release_at = [i for i, c in enumerate(effects) if c[0] == "ZREM" and c[1] == key]
        assert feed_at and release_at and max(feed_at) < release_at[0]
    await harness.router.line.transaction(effects)
    assert not await harness.client.exists(*marks)


async def test_a_room_routing_marks_its_live_node_read_until_its_deadline(harness: Harness) -> None:
    """A node announced after this read waits for the deadline before taking clients
    (notify_common.presence.in_flight, room routings); unicasts and transient broadcasts
    leave no mark (their users' marks cover them; nothing of theirs is replayed)."""
    await harness.node("gw-a", "u1")
    await harness.route(ev(users("u1"), id="uni"))
    await harness.route(ev({"kind": "role", "role": "driver"}, id="live-only", transient=True))
    assert not await harness.client.exists(harness.keys.room_routings)
    before = now_ms()
    await harness.route(ev({"kind": "role", "role": "driver"}, id="r-mark"))
    marks = await harness.client.zrange(harness.keys.room_routings, 0, -1, withscores=True)
    assert [m.decode() for m, _ in marks] == [harness.router.instance]
    timeout_ms = harness.cfg.routing_timeout_s * 1000
    assert before + timeout_ms <= marks[0][1] <= now_ms() + timeout_ms + 1000
