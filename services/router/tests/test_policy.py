"""The routing policy table (docs/protocol.md section 3): the pure table and its effects."""

from __future__ import annotations

from typing import Any

import pytest
from notify_common.publish import build_event
from router.policy import Route, apply_muted_channels, broadcast_route, route_for

from .conftest import Harness

USERS = {"kind": "users", "ids": ["u"]}


@pytest.mark.parametrize(
    ("fields", "online", "expected"),
    [
        ({}, True, Route(socket=True, push=False)),
        ({}, False, Route(socket=False, push=True)),
        ({"priority": "high"}, True, Route(socket=True, push=True)),
        ({"priority": "high"}, False, Route(socket=False, push=True)),
        ({"priority": "low"}, True, Route(socket=True, push=False)),
        ({"priority": "low"}, False, Route(socket=False, push=False)),
        ({"transient": True, "priority": "high"}, True, Route(socket=True, push=False)),
        ({"transient": True}, False, Route(socket=False, push=False)),
        ({"channels": ["socket"], "priority": "high"}, False, Route(socket=False, push=False)),
        ({"channels": ["push"]}, True, Route(socket=False, push=True)),
        ({"channels": ["socket", "push"]}, False, Route(socket=False, push=True)),
    ],
)
def test_policy_table_for_explicit_recipients(fields: dict[str, Any], online: bool, expected: Route) -> None:
    assert route_for(build_event(type="t", audience=USERS, **fields), online) == expected


def test_broadcast_pushes_to_the_topic_unless_low_priority_transient_or_socket_only() -> None:
    def push(**fields: Any) -> bool:
        return broadcast_route(build_event(type="t", audience={"kind": "all"}, **fields)).push

    assert push() and push(priority="high") and push(channels=["push"])
    assert not push(priority="low") and not push(transient=True) and not push(channels=["socket"])


def test_muted_channel_is_removed_from_the_route() -> None:
    both = Route(socket=True, push=True)
    assert apply_muted_channels(both, frozenset({"push"})) == Route(socket=True, push=False)
    assert apply_muted_channels(both, frozenset({"socket"})) == Route(socket=False, push=True)


async def test_high_priority_pushes_to_online_users_as_backup(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(
        {"type": "t", "id": "h1", "priority": "high", "audience": {"kind": "users", "ids": ["u1"]}}
    )
    assert [d.user_ids for d in await harness.deliveries("gw-a")] == [["u1"]]
    assert [j.user_ids for j in await harness.push_jobs()] == [["u1"]]


async def test_silent_event_reaches_the_push_job_as_data_only(harness: Harness) -> None:
    await harness.route(
        {"type": "t", "id": "s1", "silent": True, "audience": {"kind": "users", "ids": ["off"]}}
    )
    assert [j.notification.silent for j in await harness.push_jobs()] == [True]


async def test_transient_signal_is_live_only_no_feed_no_push(harness: Harness) -> None:
    await harness.node("gw-a", "on")
    await harness.route(
        {
            "type": "refresh",
            "id": "tr1",
            "transient": True,
            "audience": {"kind": "users", "ids": ["on", "off"]},
        },
        {"type": "refresh", "id": "tr2", "transient": True, "audience": {"kind": "role", "role": "driver"}},
    )
    delivered = [(d.notification.id, d.user_ids, d.rooms) for d in await harness.deliveries("gw-a")]
    assert delivered == [("tr1", ["on"], []), ("tr2", [], ["role:driver"])]
    assert await harness.feed("on") == [] and await harness.feed("off") == []
    assert await harness.room_feed("role:driver") == []
    assert await harness.push_jobs() == []


async def test_push_only_event_skips_the_socket_of_online_users(harness: Harness) -> None:
    await harness.node("gw-a", "on")
    await harness.route(
        {"type": "t", "id": "p1", "channels": ["push"], "audience": {"kind": "users", "ids": ["on"]}}
    )
    assert await harness.deliveries("gw-a") == []
    assert [j.user_ids for j in await harness.push_jobs()] == [["on"]]
