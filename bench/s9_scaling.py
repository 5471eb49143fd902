"""S9 scaling curves: the router tier with 1, 2, 4 router processes and the gateway tier with 1, 2,
4 gateway nodes, on one Redis (a throwaway one per step, or the one at `--redis-url`), or, as
`s9_cluster`, on a local Redis Cluster it starts (3 masters, 3 replicas, STREAM_SHARDS=6).

Router steps: S6's workload (presence of N users on fake live nodes, events of 10 users each
written to ingress at once); the routers share the `router` consumer group, and the step ends
when the group has read and acknowledged every event. Gateway steps: S2's clients (all with role
`driver`) spread evenly over the nodes, a burst of role broadcasts published at once, so the
nodes always have work queued: deliveries/s is what the nodes and the clients together reach.

Each step starts its own fleet (and Redis unless one is given; the cluster is flushed), so one
step's keys and warm caches do not help the next. Events come from 64 publisher `source`s, so on
several shards they spread over all of them. Alongside, the Redis bytes the capacity plan needs
(bench/capacity.py): presence per connected socket, a catch-up feed entry, an idempotency key,
an ingress entry.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from devstack.redis_topologies import RedisClusterGroup, start_cluster
from notify_common.keys import Keys

from bench.fleetrun import BENCH_ROLE, FleetRun, fleet_run
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.publisher import Planned, publish_paced
from bench.redis_clients import commands_processed, masters, sync_client, used_memory
from bench.s6_router import (
    PUBLISHERS,
    fake_nodes,
    publish_entries,
    router_entries,
    wait_routed,
    write_presence,
)
from bench.sizes import Sizes
from bench.waiting import wait_for_frames

SEED = 9
ROUTER_DEADLINE_S = 300.0
BURST_RATE_PER_S = 10_000.0
"""Broadcasts are published this fast: the whole burst is in the streams before much is delivered."""
DRAIN_DEADLINE_S = 300.0
IDEMPOTENCY_SCOPE = "route"
"""The router's scope of event-id claims (router.idempotency.SCOPE; services are not imported)."""
SAMPLE_KEYS = 200
"""Keys of each kind whose MEMORY USAGE is read (a sample: reading all would be a scan)."""
PROFILE_S = 5.0
CLUSTER_SHARDS = 6
"""STREAM_SHARDS on the local cluster: two shards per master, as docs/scaling.md advises."""


@dataclass(frozen=True)
class Target:
    """The Redis every step runs on."""

    label: str
    url: str | None = None
    """None: a throwaway redis-server per step."""
    shards: int | None = None
    """STREAM_SHARDS of the fleets (None: this process's, as devstack's)."""
    redis_pids: dict[str, int] = field(default_factory=dict)
    flush: bool = False
    """Ours alone: flushed before each step, which then keeps the default key prefix."""


def run(sizes: Sizes, workdir: Path, profiler: Profiler, redis_url: str | None = None) -> dict[str, Any]:
    if redis_url is None:
        return _curves(sizes, workdir, profiler, Target("throwaway, one per step"))
    return _curves(sizes, workdir, profiler, Target("given by --redis-url", url=redis_url))


def run_on_cluster(sizes: Sizes, workdir: Path, profiler: Profiler) -> dict[str, Any]:
    """The curves on a local Redis Cluster started for them (3 masters, 3 replicas)."""
    group = start_cluster()
    try:
        label = f"local Redis Cluster, 3 masters + 3 replicas, STREAM_SHARDS={CLUSTER_SHARDS}"
        target = Target(label, group.url, CLUSTER_SHARDS, _cluster_pids(group), flush=True)
        placement = _shard_placement(group, Keys("nf", CLUSTER_SHARDS).ingress_shards)
        return {**_curves(sizes, workdir, profiler, target), "ingress_shards_by_master": placement}
    finally:
        group.stop()


def _cluster_pids(group: RedisClusterGroup) -> dict[str, int]:
    """Each node's redis-server as `redis-master-<port>` or `redis-replica-<port>`."""
    pids = {}
    for node in group.live():
        assert node.process is not None
        role = "master" if group.role(node) == "master" else "replica"
        pids[f"redis-{role}-{node.port}"] = node.process.pid
    return pids


def _shard_placement(group: RedisClusterGroup, streams: list[str]) -> dict[str, list[str]]:
    """Which master serves which ingress shard stream (each is its own hash slot)."""
    placement: dict[str, list[str]] = {}
    for stream in streams:
        placement.setdefault(f"redis-master-{group.master_of(stream).port}", []).append(stream)
    return placement


def _curves(sizes: Sizes, workdir: Path, profiler: Profiler, target: Target) -> dict[str, Any]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    routers = [_router_step(sizes, workdir / f"routers-{n}", n, target, profiler) for n in sizes.s9_steps]
    gateways = [_gateway_step(sizes, workdir / f"gateways-{n}", n, target) for n in sizes.s9_steps]
    first_router, first_gateway = routers[0], gateways[0]
    return {
        "redis": target.label,
        "stream_shards": target.shards or int(os.environ.get("STREAM_SHARDS", "1")),
        "steps": list(sizes.s9_steps),
        "router_events_per_s": {str(s["routers"]): s["events_per_s"] for s in routers},
        "router_scaling": {
            str(s["routers"]): _ratio(s["events_per_s"], first_router["events_per_s"]) for s in routers
        },
        "gateway_deliveries_per_s": {str(s["gateways"]): s["deliveries_per_s"] for s in gateways},
        "gateway_scaling": {
            str(s["gateways"]): _ratio(s["deliveries_per_s"], first_gateway["deliveries_per_s"])
            for s in gateways
        },
        "redis_bytes": {
            "presence_per_socket": first_gateway["redis_presence_bytes_per_socket"],
            **first_router["redis_bytes"],
        },
        "redis_ops_per_event": first_router["redis_ops_per_event"],
        "router_steps": routers,
        "gateway_steps": gateways,
        "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _ratio(value: float, base: float) -> float | None:
    return round(value / base, 2) if base else None


def _step_run(target: Target, kind: str, count: int) -> dict[str, Any]:
    """fleet_run's Redis arguments for one step: a flushed Redis of ours keeps the default prefix;
    on a given Redis each step has its own keys."""
    if target.url is not None and target.flush:
        client = sync_client(target.url)
        try:
            for node in masters(client):
                node.flushall()
        finally:
            client.close()
    unique = target.url is not None and not target.flush
    return {
        "redis_url": target.url,
        "key_prefix": f"s9{kind}{count}-{int(time.time())}" if unique else "nf",
        "stream_shards": target.shards,
        "redis_pids": target.redis_pids,
    }


def more_routers(fr: FleetRun, count: int) -> list[ServiceProcess]:
    """Start `count` more router processes, configured like the fleet's, in the same group."""
    first = fr.fleet.processes["router"]
    extra = []
    for i in range(2, count + 2):
        ops_port = free_port()
        env = {
            **first.env,
            "NODE_ID": f"router-{i}",
            "OPS_PORT": str(ops_port),
            "HTTP_PORT": str(free_port()),
        }
        log = first.log_path.with_name(f"router-{i}.log")
        extra.append(ServiceProcess(f"router-{i}", "router", env, ops_port, log).start())
    for proc in extra:
        proc.wait_ready(60)
    return extra


def _router_step(
    sizes: Sizes, workdir: Path, routers: int, target: Target, profiler: Profiler
) -> dict[str, Any]:
    events = sizes.s9_router_events
    with fleet_run(workdir, gateways=0, services=("router",), **_step_run(target, "r", routers)) as fr:
        extra = more_routers(fr, routers - 1)
        try:
            nodes = fake_nodes(sizes.s6_nodes)
            write_presence(fr.client, fr.keys, sizes.s6_users, nodes)
            ingress = router_entries(fr.keys, "s9", sizes, events, SEED)
            pids = {**fr.fleet_pids(), **{p.name: p.process.pid for p in extra if p.process is not None}}
            commands_before = commands_processed(fr.client)
            meter = CpuMeter(pids).start()
            # the first router of each step (`--profile`): where a router's CPU per event goes
            with profiler.attach(f"s9-{target.shards or 1}shards-{routers}routers", pids, PROFILE_S):
                started, bench_cpu_started = time.monotonic(), time.process_time()
                publish_entries(fr.client, ingress)
                publish_s = time.monotonic() - started
                publisher_cpu = time.process_time() - bench_cpu_started
                wait_routed(fr.client, fr.keys, nodes, events, ROUTER_DEADLINE_S)
                elapsed = time.monotonic() - started
                bench_cpu = time.process_time() - bench_cpu_started
                cpu = meter.stop()
            commands = commands_processed(fr.client) - commands_before
            memory = _router_memory(fr.client, fr.keys, sizes.s6_users)
            by_shard = stream_lengths(fr.client, fr.keys.ingress_shards)
        finally:
            for proc in extra:
                proc.stop()
    router_cpu = sum(v for k, v in cpu.items() if k.startswith("router"))
    redis_cpu = _redis_cpu(cpu)
    # The bench process publishes first, then polls the groups: its CPU is a load on the same cores.
    cpu = {
        **cpu,
        "bench-publisher": round(publisher_cpu, 2),
        "bench-polling": round(bench_cpu - publisher_cpu, 2),
    }
    return {
        "routers": routers,
        "events": events,
        "users_per_event": sizes.s6_users_per_event,
        "seconds": round(elapsed, 3),
        "publish_seconds": round(publish_s, 3),
        "events_per_s": round(events / elapsed, 1),
        "deliveries_per_s": round(events * sizes.s6_users_per_event / elapsed, 1),
        "router_cpu_us_per_event": round(router_cpu / events * 1e6, 1),
        "redis_cpu_us_per_event": round(redis_cpu / events * 1e6, 1) if redis_cpu is not None else None,
        "redis_commands_per_s": round(commands / elapsed, 1),
        "redis_ops_per_event": round(commands / events, 2),
        "redis_bytes": memory,
        "ingress_entries_by_shard": by_shard,
        "cpu_s": cpu,
        "cores_busy": {name: round(v / elapsed, 2) for name, v in cpu.items()},
        "loadavg_after": round(os.getloadavg()[0], 2),
    }


def stream_lengths(client: redis.Redis, streams: list[str]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xlen(stream)
    return [int(n) for n in pipe.execute()]


def _redis_cpu(cpu: dict[str, float]) -> float | None:
    """CPU seconds of every redis-server read (one, or a cluster's masters and replicas)."""
    seconds = [v for k, v in cpu.items() if k.startswith("redis")]
    return sum(seconds) if seconds else None


def _usage(client: redis.Redis, keys: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(n or 0) for n in pipe.execute())


def _router_memory(client: redis.Redis, keys: Keys, users: int) -> dict[str, float | None]:
    """Bytes per feed entry, per idempotency key and per ingress entry (MEMORY USAGE of a sample:
    the value and key, not the keyspace's own entry of ~50 bytes per key)."""
    feeds = [keys.user_feed(f"r{i}") for i in range(min(users, SAMPLE_KEYS))]
    pipe = client.pipeline(transaction=False)
    for key in feeds:
        pipe.xlen(key)
    entries = sum(int(n) for n in pipe.execute())
    seen = [keys.seen(IDEMPOTENCY_SCOPE, f"s9-{i}") for i in range(SAMPLE_KEYS)]
    pipe = client.pipeline(transaction=False)
    for key in seen:
        pipe.exists(key)
    seen = [key for key, n in zip(seen, pipe.execute(), strict=True) if n]
    ingress_len = sum(stream_lengths(client, keys.ingress_shards))
    return {
        "feed_entry": round(_usage(client, feeds) / entries, 1) if entries else None,
        "feed_entries_sampled": entries,
        "idempotency_key": round(_usage(client, seen) / len(seen), 1) if seen else None,
        "ingress_entry": round(_usage(client, keys.ingress_shards) / ingress_len, 1) if ingress_len else None,
    }


def _gateway_step(sizes: Sizes, workdir: Path, gateways: int, target: Target) -> dict[str, Any]:
    with fleet_run(
        workdir,
        gateways=gateways,
        services=("router",),
        client_workers=sizes.client_workers,
        **_step_run(target, "g", gateways),
    ) as fr:
        assert fr.pool is not None
        memory_before = used_memory(fr.client)
        fr.ensure_clients(sizes.s9_clients)
        clients = len(fr.pool.connected)
        fr.settle()
        memory_delta = (used_memory(fr.client) - memory_before) / clients if clients else None
        presence_bytes = _presence_memory(fr, clients)
        plan = [
            Planned(
                f"s9-{gateways}-{i}",
                {"kind": "role", "role": BENCH_ROLE},
                "bench.broadcast",
                source=f"bench-publisher-{i % PUBLISHERS}",
            )
            for i in range(sizes.s9_broadcasts)
        ]
        expected = clients * len(plan)
        fr.pool.reset()
        meter = CpuMeter(fr.pids()).start()
        published = publish_paced(fr.client, fr.keys, plan, BURST_RATE_PER_S)
        wait_for_frames(fr.pool, expected, sizes.drain_quiet_s, DRAIN_DEADLINE_S)
        cpu = meter.stop()
        got = fr.pool.report()
    deliveries = sum(got.receivers.get(p.id, 0) for p in plan)
    span_s = (got.last_frame_ns - published.first_ns) / 1e9 if got.last_frame_ns else 0.0
    gateway_cpu = sum(v for k, v in cpu.items() if k.startswith("gateway"))
    client_cpu = sum(v for k, v in cpu.items() if k.startswith("bench-clients"))
    return {
        "gateways": gateways,
        "clients": clients,
        "broadcasts": len(plan),
        "deliveries": deliveries,
        "lost": expected - deliveries,
        "duplicates": got.duplicates,
        "seconds": round(span_s, 3),
        "deliveries_per_s": round(deliveries / span_s, 1) if span_s > 0 else 0.0,
        "deliveries_per_s_per_gateway": round(deliveries / span_s / gateways, 1) if span_s > 0 else 0.0,
        "gateway_cpu_us_per_delivery": round(gateway_cpu / deliveries * 1e6, 2) if deliveries else None,
        "client_cpu_us_per_delivery": round(client_cpu / deliveries * 1e6, 2) if deliveries else None,
        "gateway_cores_busy": round(gateway_cpu / span_s, 2) if span_s > 0 else None,
        "client_cores_busy": round(client_cpu / span_s, 2) if span_s > 0 else None,
        "redis_presence_bytes_per_socket": presence_bytes,
        "redis_used_memory_per_socket": round(memory_delta, 1) if memory_delta is not None else None,
        "cpu_s": cpu,
        "cores_busy": {name: round(v / span_s, 2) for name, v in cpu.items()} if span_s > 0 else None,
        "loadavg_after": round(os.getloadavg()[0], 2),
    }


def _presence_memory(fr: FleetRun, clients: int) -> float | None:
    """MEMORY USAGE per connected socket (one per user here): the user's presence hash and
    connection counter (a sample), plus its share of the nodes' user and role hashes. Without the
    keyspace's own entry per key (bench.capacity adds it); `used_memory` moves too much with
    client buffers to measure a few hundred bytes per socket at a few thousand sockets."""
    if not clients:
        return None
    users = [f"u{i}" for i in range(min(clients, SAMPLE_KEYS))]
    per_user = _usage(
        fr.client, [k for u in users for k in (fr.keys.user_presence(u), fr.keys.user_connections(u))]
    )
    nodes = list(fr.fleet.gateway_ports)
    shared = _usage(
        fr.client, [k for n in nodes for k in (fr.keys.node_users(n), fr.keys.node_user_roles(n))]
    )
    return round(per_user / len(users) + shared / clients, 1)
