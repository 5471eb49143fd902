"""An event id reaches each recipient once; a replayed entry is routed again, never lost."""

from __future__ import annotations

from typing import Any

from .conftest import Harness


def to(*ids: str, **fields: Any) -> dict[str, Any]:
    return {"type": "t", "audience": {"kind": "users", "ids": list(ids)}, **fields}


async def test_same_event_id_published_twice_is_routed_once(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", "off", id="once"))
    await harness.route(to("u1", "off", id="once"))
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["once"]
    assert len(await harness.push_jobs()) == 1
    assert len(await harness.feed("off")) == 1


async def test_same_event_id_twice_in_one_batch_is_routed_once(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1", id="twin"), to("u1", id="twin"))
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["twin"]


async def test_replay_of_the_same_entry_is_routed_again_with_the_same_id(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    entries = await harness.publish(to("u1", id="replayed"))
    await harness.handle(entries)
    await harness.handle(entries)  # the replica died before XACK; another one claims it
    assert [d.notification.id for d in await harness.deliveries("gw-a")] == ["replayed", "replayed"]


async def test_events_without_id_are_each_routed(harness: Harness) -> None:
    await harness.node("gw-a", "u1")
    await harness.route(to("u1"), to("u1"))
    ids = [d.notification.id for d in await harness.deliveries("gw-a")]
    assert len(set(ids)) == 2 and all(i.startswith("evt-") for i in ids)
