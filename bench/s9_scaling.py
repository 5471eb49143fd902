"""S9 scaling curves: the router tier with 1, 2, 4 router processes and the gateway tier with 1, 2,
4 gateway nodes, all on one Redis (a throwaway one, or the one at `--redis-url`, e.g. a cluster).

Router steps: S6's workload (presence of N users on fake live nodes, events of 10 users each
written to ingress at once); the routers share the `router` consumer group, and the step ends
when the group has read and acknowledged every event. Gateway steps: S2's clients (all with role
`driver`) spread evenly over the nodes, a burst of role broadcasts published at once, so the
nodes always have work queued: deliveries/s is what the nodes and the clients together reach.

Each step starts its own fleet (and Redis unless one is given), so one step's keys and warm caches
do not help the next. Alongside, the Redis bytes the capacity plan needs (bench/capacity.py):
presence per connected socket, a catch-up feed entry, an idempotency key, an ingress entry.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import redis
from devstack.ports import free_port
from devstack.procs import ServiceProcess
from notify_common.keys import Keys
from notify_common.publish import build_event
from notify_common.schemas import FIELD_EVENT, encode

from bench.fleetrun import BENCH_ROLE, FleetRun, fleet_run
from bench.procstats import CpuMeter
from bench.publisher import Planned, publish_paced
from bench.s6_router import CHUNK, fake_nodes, heartbeat, router_done, write_presence
from bench.sizes import Sizes
from bench.waiting import wait_for_frames

SEED = 9
POLL_S = 0.02
ROUTER_DEADLINE_S = 300.0
BURST_RATE_PER_S = 10_000.0
"""Broadcasts are published this fast: the whole burst is in the streams before much is delivered."""
DRAIN_DEADLINE_S = 300.0
IDEMPOTENCY_SCOPE = "route"
"""The router's scope of event-id claims (router.idempotency.SCOPE; services are not imported)."""
SAMPLE_KEYS = 200
"""Keys of each kind whose MEMORY USAGE is read (a sample: reading all would be a scan)."""


def run(sizes: Sizes, workdir: Path, redis_url: str | None = None) -> dict[str, Any]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    routers = [_router_step(sizes, workdir / f"routers-{n}", n, redis_url) for n in sizes.s9_steps]
    gateways = [_gateway_step(sizes, workdir / f"gateways-{n}", n, redis_url) for n in sizes.s9_steps]
    first_router, first_gateway = routers[0], gateways[0]
    return {
        "redis": "given by --redis-url" if redis_url else "throwaway, one per step",
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


def _prefix(kind: str, count: int, redis_url: str | None) -> str:
    """A throwaway Redis keeps the default prefix; on a given Redis each step has its own keys."""
    return f"s9{kind}{count}-{int(time.time())}" if redis_url else "nf"


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


def _router_step(sizes: Sizes, workdir: Path, routers: int, redis_url: str | None) -> dict[str, Any]:
    prefix = _prefix("r", routers, redis_url)
    with fleet_run(workdir, gateways=0, services=("router",), redis_url=redis_url, key_prefix=prefix) as fr:
        extra = more_routers(fr, routers - 1)
        try:
            nodes = fake_nodes(sizes.s6_nodes)
            write_presence(fr.client, fr.keys, sizes.s6_users, nodes)
            rng = random.Random(SEED)
            payloads = []
            for i in range(sizes.s9_router_events):
                ids = [f"r{u}" for u in rng.sample(range(sizes.s6_users), sizes.s6_users_per_event)]
                event = build_event(
                    id=f"s9-{i}", type="bench.router", title="bench", audience={"kind": "users", "ids": ids}
                )
                payloads.append(encode(event))
            pids = {**fr.fleet_pids(), **{p.name: p.process.pid for p in extra if p.process is not None}}
            commands_before = _commands(fr.client)
            meter = CpuMeter(pids).start()
            started = time.monotonic()
            for first in range(0, len(payloads), CHUNK):
                pipe = fr.client.pipeline(transaction=False)
                for payload in payloads[first : first + CHUNK]:
                    pipe.xadd(fr.keys.ingress, {FIELD_EVENT: payload})
                pipe.execute()
            _wait_routed(fr, nodes, sizes.s9_router_events)
            elapsed = time.monotonic() - started
            cpu = meter.stop()
            commands = _commands(fr.client) - commands_before
            memory = _router_memory(fr.client, fr.keys, sizes.s6_users)
        finally:
            for proc in extra:
                proc.stop()
    events = sizes.s9_router_events
    router_cpu = sum(v for k, v in cpu.items() if k.startswith("router"))
    redis_cpu = cpu.get("redis-server")
    return {
        "routers": routers,
        "events": events,
        "users_per_event": sizes.s6_users_per_event,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed, 1),
        "deliveries_per_s": round(events * sizes.s6_users_per_event / elapsed, 1),
        "router_cpu_us_per_event": round(router_cpu / events * 1e6, 1),
        "redis_cpu_us_per_event": round(redis_cpu / events * 1e6, 1) if redis_cpu is not None else None,
        "redis_commands_per_s": round(commands / elapsed, 1),
        "redis_ops_per_event": round(commands / events, 2),
        "redis_bytes": memory,
        "cpu_s": cpu,
    }


def _wait_routed(fr: FleetRun, nodes: list[str], events: int) -> None:
    deadline = time.monotonic() + ROUTER_DEADLINE_S
    next_beat = time.monotonic() + 1
    while not router_done(fr.client, fr.keys, events):
        if time.monotonic() > deadline:
            raise TimeoutError(f"routers did not finish {events} events in {ROUTER_DEADLINE_S}s")
        if time.monotonic() > next_beat:
            heartbeat(fr.client, fr.keys, nodes)  # the fake nodes stay alive for the routers
            next_beat += 1
        time.sleep(POLL_S)


def _commands(client: redis.Redis) -> int:
    """Commands the server has processed (a cluster through one node: that node's count)."""
    return int(client.info("stats")["total_commands_processed"])


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
    ingress_len = int(client.xlen(keys.ingress))
    return {
        "feed_entry": round(_usage(client, feeds) / entries, 1) if entries else None,
        "feed_entries_sampled": entries,
        "idempotency_key": round(_usage(client, seen) / len(seen), 1) if seen else None,
        "ingress_entry": round(_usage(client, [keys.ingress]) / ingress_len, 1) if ingress_len else None,
    }


def _gateway_step(sizes: Sizes, workdir: Path, gateways: int, redis_url: str | None) -> dict[str, Any]:
    prefix = _prefix("g", gateways, redis_url)
    with fleet_run(
        workdir,
        gateways=gateways,
        services=("router",),
        client_workers=sizes.client_workers,
        redis_url=redis_url,
        key_prefix=prefix,
    ) as fr:
        assert fr.pool is not None
        memory_before = _used_memory(fr.client)
        fr.ensure_clients(sizes.s9_clients)
        clients = len(fr.pool.connected)
        fr.settle()
        memory_delta = (_used_memory(fr.client) - memory_before) / clients if clients else None
        presence_bytes = _presence_memory(fr, clients)
        plan = [
            Planned(f"s9-{gateways}-{i}", {"kind": "role", "role": BENCH_ROLE}, "bench.broadcast")
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


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])
