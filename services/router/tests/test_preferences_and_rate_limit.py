"""Muted categories and channels, and the per-user rate limit, never drop silently."""

from __future__ import annotations

from typing import Any

from notify_common.keys import Keys
from prometheus_client import REGISTRY
from router.preferences import Preferences, read_preferences, write_preferences

from .conftest import Harness, MakeHarness


def to(*ids: str, **fields: Any) -> dict[str, Any]:
    return {"type": "t", "audience": {"kind": "users", "ids": list(ids)}, **fields}


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("nf_router_dropped_total", {"reason": reason}) or 0.0


async def mute(harness: Harness, user_id: str, **prefs: Any) -> None:
    await write_preferences(harness.client, harness.keys, user_id, Preferences(**prefs))


async def test_preferences_round_trip_and_empty_preferences_delete_the_key(harness: Harness) -> None:
    keys: Keys = harness.keys
    await mute(harness, "u1", muted_categories=["promo", "promo"], muted_channels=["push"])
    assert await read_preferences(harness.client, keys, "u1") == Preferences(
        muted_categories=["promo"], muted_channels=["push"]
    )
    await mute(harness, "u1")
    assert await harness.client.exists(keys.preferences("u1")) == 0


async def test_muted_category_drops_the_notification_with_a_receipt_and_a_count(harness: Harness) -> None:
    await harness.node("gw-a", "u1", "u2")
    await mute(harness, "u1", muted_categories=["promo"])
    before = dropped("muted_category")
    await harness.route(to("u1", "u2", id="m1", category="promo"))
    assert [d.user_ids for d in await harness.deliveries("gw-a")] == [["u2"]]
    assert await harness.feed("u1") == []
    receipts = [(r.user_id, r.kind, r.error) for r in await harness.receipts()]
    assert receipts == [("u1", "dropped", "muted category promo")]
    assert dropped("muted_category") == before + 1


async def test_other_categories_still_reach_a_user_who_muted_one(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await mute(harness, "u1", muted_categories=["promo"])
    await harness.route(to("u1", id="m2", category="orders"))
    assert [d.user_ids for d in await harness.deliveries("gw-a")] == [["u1"]]


async def test_muted_push_channel_means_an_offline_user_gets_no_push_but_keeps_the_feed(
    harness: Harness,
) -> None:
    await mute(harness, "off", muted_channels=["push"])
    await harness.route(to("off", id="m3", priority="high"))
    assert await harness.push_jobs() == []
    assert [n.id for n in await harness.feed("off")] == ["m3"]


async def test_muted_socket_channel_keeps_the_push_backup_of_high_priority(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await mute(harness, "u1", muted_channels=["socket"])
    await harness.route(to("u1", id="m4", priority="high"))
    assert await harness.deliveries("gw-a") == []
    assert [j.user_ids for j in await harness.push_jobs()] == [["u1"]]


async def test_over_the_rate_limit_notifications_are_dropped_with_receipts_and_counted(
    make_harness: MakeHarness,
) -> None:
    harness = make_harness(rate_limit_per_user=2)
    await harness.node("gw-a", "u1")
    before = dropped("rate_limited")
    await harness.route(to("u1", id="r1"), to("u1", id="r2"), to("u1", id="r3"))
    await harness.route(to("u1", id="r4"))
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["r1", "r2"]
    receipts = [(r.notification_id, r.kind) for r in await harness.receipts()]
    assert receipts == [("r3", "dropped"), ("r4", "dropped")]
    assert all(r.error.startswith("rate limited") for r in await harness.receipts())
    assert dropped("rate_limited") == before + 2


async def test_high_priority_is_delivered_over_the_rate_limit(make_harness: MakeHarness) -> None:
    harness = make_harness(rate_limit_per_user=1)
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="h1"), to("u1", id="h2", priority="high"))
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["h1", "h2"]


async def test_transient_signals_are_not_rate_limited(make_harness: MakeHarness) -> None:
    harness = make_harness(rate_limit_per_user=1)
    await harness.node("gw-a", "u1")
    await harness.route(*[to("u1", type="refresh", transient=True) for _ in range(3)])
    assert len(await harness.deliveries("gw-a")) == 3


async def test_rate_limit_zero_disables_counting(make_harness: MakeHarness) -> None:
    harness = make_harness(rate_limit_per_user=0)
    await harness.node("gw-a", "u1")
    await harness.route(*[to("u1") for _ in range(5)])
    assert len(await harness.deliveries("gw-a")) == 5
    assert await harness.client.exists(harness.keys.rate("u1")) == 0


async def test_rate_window_has_a_ttl(make_harness: MakeHarness) -> None:
    harness = make_harness(rate_limit_window_s=60)
    await harness.route(to("u1"))
    assert 0 < await harness.client.ttl(harness.keys.rate("u1")) <= 60
