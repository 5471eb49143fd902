"""Reconnect planning per close code, the drain hint, and dropping repeated ids (no server)."""

from __future__ import annotations

import pytest
from notify_client import Backoff, NotifyClient, plan_reconnect, reconnect_hint_s
from notify_client.seen import SeenIds


def top() -> float:
    return 1.0  # the largest delay the jitter can draw


@pytest.mark.parametrize(
    ("code", "attempt", "delay_s", "fresh"),
    [
        (1006, 0, 0.5, False),
        (1006, 3, 4.0, False),
        (1006, 20, 30.0, False),
        (4401, 0, 1.0, True),
        (4408, 1, 2.0, False),
        (1009, 0, 1.0, False),
        (4429, 0, 5.0, False),
        (1001, 5, 1.0, False),
    ],
)
def test_each_close_code_gets_its_own_base(code: int, attempt: int, delay_s: float, fresh: bool) -> None:
    plan = plan_reconnect(code, "", attempt, Backoff(), top)
    assert (plan.delay_s, plan.fresh_token) == (delay_s, fresh)


def test_rate_limited_base_doubles_per_4429_in_a_row_up_to_its_cap() -> None:
    assert plan_reconnect(4429, "", 0, rand=top, rate_limited=2).delay_s == 20.0
    assert plan_reconnect(4429, "", 0, rand=top, rate_limited=9).delay_s == 60.0


def test_draining_node_hint_sets_the_window_after_1001() -> None:
    reason = "node shutting down: reconnect to any node after a random 0..retry_ms wait; retry_ms=5000"
    assert reconnect_hint_s(reason) == 5.0
    assert plan_reconnect(1001, reason, 0, rand=top).delay_s == 5.0


@pytest.mark.parametrize(
    ("reason", "hint"),
    [
        ("retry_ms: 2500", 2.5),
        ("retry in 2.5 s", 2.5),
        ("retry_ms=999999999", 60.0),
        ("node shutting down: reconnect to any node", None),
        ("retry_ms=abc", None),
        ("", None),
    ],
)
def test_hint_is_read_defensively(reason: str, hint: float | None) -> None:
    assert reconnect_hint_s(reason) == hint


def test_jitter_spreads_delays_below_the_base() -> None:
    delays = {plan_reconnect(1006, "", 2).delay_s for _ in range(50)}
    assert len(delays) > 40 and all(0 <= d <= 2.0 for d in delays)


def test_seen_ids_forget_the_oldest_past_capacity() -> None:
    seen = SeenIds(capacity=2)
    assert [seen.first_time(i) for i in ("a", "b", "a", "c", "a")] == [True, True, False, True, True]


async def test_repeated_notification_reaches_the_app_once_and_transient_does_not_move_last_id() -> None:
    client = NotifyClient("ws://unused/ws", token="t")
    shown: list[str] = []
    client.on("notification", lambda n: shown.append(n["id"]))
    for nid, transient in (("n-1", False), ("n-1", False), ("typing", True), ("n-2", False), ("n-2", False)):
        await client._on_frame({"type": "notification", "notification": {"id": nid, "transient": transient}})
    assert shown == ["n-1", "typing", "n-2"]
    assert client.last_id == "n-2"


async def test_inbox_read_sync_is_a_read_event_not_a_notification() -> None:
    client = NotifyClient("ws://unused/ws", token="t")
    reads: list[dict[str, object]] = []
    client.on("read", reads.append)
    client.on("notification", lambda n: pytest.fail(f"shown: {n}"))
    frame = {"id": "r-1", "type": "inbox.read", "transient": True, "data": {"ids": ["n-1"]}}
    await client._on_frame({"type": "notification", "notification": frame})
    assert reads == [{"ids": ["n-1"]}]
