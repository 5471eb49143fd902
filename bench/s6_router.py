"""S6 router alone: events/s and deliveries/s of one router process with N online users.

Presence is written straight into Redis with the layout of notify_common.keys/presence (users
spread over a few live fake nodes that keep heartbeating); nothing reads the node streams, and
deliveries are counted from what the router wrote to them.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import msgspec
import redis
from notify_common.clock import now_ms
from notify_common.keys import GROUP_ROUTER, Keys
from notify_common.publish import build_event
from notify_common.schemas import FIELD_DELIVERY, FIELD_EVENT, NodeDelivery, encode
from notify_common.shards import event_shard_key
from notify_common.stream_ids import after

from bench.fleetrun import fleet_run
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.redis_clients import group_progress
from bench.sizes import Sizes

SEED = 6
CHUNK = 1000
PUBLISHERS = 64
"""Sources of the router events: 64 put 10 or 11 on each of 6 shards (crc32 mod 6)."""
POLL_S = 0.02
DEADLINE_S = 240.0
PROFILE_S = 5.0


def fake_nodes(count: int) -> list[str]:
    return [f"fake-node-{i + 1}" for i in range(count)]


def write_presence(client: redis.Redis, keys: Keys, users: int, nodes: list[str]) -> None:
    """User r<i> online with one connection on node i % len(nodes); every node heartbeats now."""
    pipe = client.pipeline(transaction=False)
    for i in range(users):
        node = nodes[i % len(nodes)]
        pipe.hset(keys.user_presence(f"r{i}"), node, 1)
        pipe.hset(keys.node_users(node), f"r{i}", 1)
        if len(pipe) >= CHUNK:
            pipe.execute()
    pipe.execute()
    heartbeat(client, keys, nodes)


def heartbeat(client: redis.Redis, keys: Keys, nodes: list[str]) -> None:
    client.zadd(keys.live_nodes, dict.fromkeys(nodes, now_ms()))


def router_entries(
    keys: Keys, id_prefix: str, sizes: Sizes, events: int, seed: int
) -> list[tuple[str, bytes]]:
    """`events` events of `sizes.s6_users_per_event` online users each, encoded beside their
    ingress shard stream. They come from PUBLISHERS sources: with STREAM_SHARDS > 1 an event of
    several recipients goes to its source's shard, so the events spread over every shard."""
    rng = random.Random(seed)
    entries = []
    for i in range(events):
        ids = [f"r{u}" for u in rng.sample(range(sizes.s6_users), sizes.s6_users_per_event)]
        event = build_event(
            id=f"{id_prefix}-{i}",
            type="bench.router",
            title="bench",
            source=f"bench-publisher-{i % PUBLISHERS}",
            audience={"kind": "users", "ids": ids},
        )
        entries.append((keys.ingress_for(event_shard_key(event)), encode(event)))
    return entries


def publish_entries(client: redis.Redis, entries: list[tuple[str, bytes]]) -> None:
    """XADD every entry to its stream, CHUNK to a pipeline (a cluster's splits by node)."""
    for first in range(0, len(entries), CHUNK):
        pipe = client.pipeline(transaction=False)
        for stream, payload in entries[first : first + CHUNK]:
            pipe.xadd(stream, {FIELD_EVENT: payload})
        pipe.execute()


def router_done(client: redis.Redis, keys: Keys, events: int) -> bool:
    """The router group has read `events` entries over every ingress shard and acked them all."""
    read, pending = group_progress(client, keys.ingress_shards, GROUP_ROUTER)
    return read >= events and pending == 0


def wait_routed(client: redis.Redis, keys: Keys, nodes: list[str], events: int, deadline_s: float) -> None:
    """Until the routers are done with `events` events; the fake nodes heartbeat meanwhile."""
    deadline = time.monotonic() + deadline_s
    next_beat = time.monotonic() + 1
    while not router_done(client, keys, events):
        if time.monotonic() > deadline:
            raise TimeoutError(f"routers did not finish {events} events in {deadline_s}s")
        if time.monotonic() > next_beat:
            heartbeat(client, keys, nodes)  # the fake nodes stay alive for the routers
            next_beat += 1
        time.sleep(POLL_S)


def count_deliveries(client: redis.Redis, keys: Keys, nodes: list[str]) -> tuple[int, int]:
    """(delivery entries, user deliveries) written to the node streams."""
    decoder = msgspec.json.Decoder(NodeDelivery)
    entries = users = 0
    for node in nodes:
        start = "-"
        while True:
            batch = client.xrange(keys.node_deliveries(node), min=start, count=5000)
            if not batch:
                break
            for _, fields in batch:
                entries += 1
                users += len(decoder.decode(fields[FIELD_DELIVERY]).user_ids)
            last = batch[-1][0].decode()
            start = after(last)
    return entries, users


def run(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    with fleet_run(workdir, gateways=0, services=("router",)) as fr:
        nodes = fake_nodes(sizes.s6_nodes)
        write_presence(fr.client, fr.keys, sizes.s6_users, nodes)
        ingress = router_entries(fr.keys, "s6", sizes, sizes.s6_events, SEED)
        meter = CpuMeter(fr.pids()).start()
        profiling = profiler.attach("s6", fr.fleet.pids(), PROFILE_S)
        profiling.__enter__()
        started = time.monotonic()
        publish_entries(fr.client, ingress)
        wait_routed(fr.client, fr.keys, nodes, sizes.s6_events, DEADLINE_S)
        elapsed = time.monotonic() - started
        cpu = meter.stop()
        profiling.__exit__(None, None, None)
        entries, deliveries = count_deliveries(fr.client, fr.keys, nodes)
    router_cpu = cpu.get("router", 0.0)
    return {
        "online_users": sizes.s6_users,
        "nodes": sizes.s6_nodes,
        "events": sizes.s6_events,
        "users_per_event": sizes.s6_users_per_event,
        "seconds": round(elapsed, 3),
        "events_per_s": round(sizes.s6_events / elapsed, 1),
        "deliveries": deliveries,
        "delivery_entries": entries,
        "deliveries_per_s": round(deliveries / elapsed, 1),
        "deliveries_per_router_cpu_s": round(deliveries / router_cpu, 1) if router_cpu else None,
        "cpu_s": cpu,
    }
