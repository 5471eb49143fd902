"""Hostile publishers: whatever lands on the ingress stream, every group dead-letters it with the
documented reason (docs/protocol.md §1), no process crashes or stalls, and the next good event is
still delivered."""

from __future__ import annotations

import json
import time

import msgspec
import pytest
import redis
from devstack.fleet import Fleet
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from notify_common.keys import Keys
from notify_common.schemas import BadEntry, decode_event

from chaos.probes import assert_fleet_healthy, delivers_to_a_fresh_client

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

INGRESS_GROUPS = {"router", "history"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
audiences = st.one_of(
    st.fixed_dictionaries({"kind": st.text(max_size=12)}),  # unknown kinds
    st.fixed_dictionaries({"kind": st.just("users"), "ids": json_values}),
    st.fixed_dictionaries({"kind": st.just("role")}),  # missing role
    st.fixed_dictionaries({"kind": st.just("geo"), "role": st.just("driver"), "lat": st.floats(-1e6, 1e6)}),
    json_values,
)
events = st.fixed_dictionaries(
    {},
    optional={
        "v": json_values,
        "id": st.one_of(st.text(max_size=200), json_values),
        "type": st.one_of(st.text(max_size=80), json_values),
        "audience": audiences,
        "title": st.one_of(st.text(max_size=300), json_values),
        "priority": st.one_of(st.sampled_from(["low", "urgent", ""]), json_values),
        "ttl_s": json_values,
        "expires_at": st.one_of(st.just("2030-01-01T00:00:00"), st.text(max_size=30)),
        "surprise": json_values,
    },
)
payloads = st.one_of(
    st.binary(max_size=512),  # binary garbage
    st.text(max_size=200).map(str.encode),  # not JSON, or JSON of the wrong shape
    json_values.map(lambda v: json.dumps(v).encode()),
    events.map(lambda e: json.dumps(e).encode()),
    events.map(lambda e: json.dumps(e).encode()[:-3]),  # truncated JSON
)
field_names = st.sampled_from([b"event", b"event", b"event", b"evnt", b"payload"])


def expected_reason(fields: dict[bytes, bytes]) -> str | None:
    """The reason the schema gives, or None when the payload happens to be a valid event."""
    try:
        decode_event(fields)
    except BadEntry as exc:
        return str(exc)
    return None


def dead_reasons(client: redis.Redis, keys: Keys, entry_ids: set[str], timeout_s: float = 90.0) -> dict:
    """source entry id -> {group: reason}, once every group dead-lettered every entry (or timeout)."""
    found: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = {}
        for _, fields in client.xrange(keys.dead_letters):
            meta = json.loads(fields[b"meta"])
            if meta["source_id"] in entry_ids:
                found.setdefault(meta["source_id"], {})[meta["group"]] = meta["reason"]
        if len(found) == len(entry_ids) and all(set(g) >= INGRESS_GROUPS for g in found.values()):
            break
        time.sleep(0.5)
    return found


def test_fuzzed_ingress_entries_are_dead_lettered_with_the_schema_reason(
    fleet: Fleet, sync_redis: redis.Redis
) -> None:
    keys = Keys(fleet.key_prefix)
    sent: dict[str, str] = {}

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(name=field_names, payload=payloads)
    def publish_one(name: bytes, payload: bytes) -> None:
        reason = expected_reason({name: payload})
        assume(reason is not None)
        entry_id = sync_redis.xadd(keys.ingress, {name: payload}).decode()
        sent[entry_id] = reason

    publish_one()
    found = dead_reasons(sync_redis, keys, set(sent))
    missing = {e: sorted(INGRESS_GROUPS - set(found.get(e, {}))) for e in sent}
    missing = {e: groups for e, groups in missing.items() if groups}
    assert not missing, (
        f"{len(missing)} of {len(sent)} bad entries not dead-lettered: {list(missing.items())[:5]}"
    )
    wrong = {e: (found[e]["history"], reason) for e, reason in sent.items() if found[e]["history"] != reason}
    assert not wrong, list(wrong.items())[:5]
    assert all(found[e]["router"] for e in sent)


HUGE = [
    pytest.param(
        {"type": "t", "audience": {"kind": "users", "ids": ["u"]}, "title": "x" * 1_000_000}, id="title-1MB"
    ),
    pytest.param(
        {"type": "t", "audience": {"kind": "users", "ids": ["u"]}, "data": {"blob": "x" * 9000}},
        id="data-9KB",
    ),
    pytest.param(
        {"type": "t", "audience": {"kind": "users", "ids": [f"u{i}" for i in range(10_001)]}},
        id="10001-users",
    ),
    pytest.param({"type": "t", "audience": {"kind": "nowhere"}}, id="unknown-audience"),
    pytest.param({"audience": {"kind": "users", "ids": ["u"]}}, id="missing-type"),
]


@pytest.mark.parametrize("event", HUGE)
def test_oversized_or_unroutable_event_is_dead_lettered_by_every_group(
    event: dict, fleet: Fleet, sync_redis: redis.Redis
) -> None:
    keys = Keys(fleet.key_prefix)
    entry_id = sync_redis.xadd(keys.ingress, {b"event": msgspec.json.encode(event)}).decode()
    found = dead_reasons(sync_redis, keys, {entry_id})
    assert set(found.get(entry_id, {})) >= INGRESS_GROUPS, found
    assert all(reason.startswith("invalid event: ") for reason in found[entry_id].values()), found


def test_deeply_nested_json_is_dead_lettered(fleet: Fleet, sync_redis: redis.Redis) -> None:
    keys = Keys(fleet.key_prefix)
    bomb = (
        b'{"type":"t","audience":{"kind":"users","ids":["u"]},"data":{"a":'
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}"
    )
    entry_id = sync_redis.xadd(keys.ingress, {b"event": bomb}).decode()
    found = dead_reasons(sync_redis, keys, {entry_id})
    assert set(found.get(entry_id, {})) >= INGRESS_GROUPS, found


async def test_fleet_still_ready_and_delivering_after_hostile_ingress(fleet: Fleet) -> None:
    assert_fleet_healthy(fleet)
    await delivers_to_a_fresh_client(fleet)
