"""S1 unicast: N connected users; a domain service publishes R events/s, each to one random user.

The whole fleet runs (history on SQLite, push-worker and the fake FCM idle), so the fleet's CPU
per notification counts everything one notification costs: routing, the node stream, the socket
write, the delivered receipt and its history row, and Redis serving all of it.
"""

from __future__ import annotations

import random
from typing import Any

from bench import looplag
from bench.fleetrun import FleetRun
from bench.procstats import CpuMeter, fleet_cpu
from bench.profiling import Profiler
from bench.publisher import Planned, publish_paced
from bench.sizes import Sizes
from bench.waiting import wait_for_frames

SEED = 1


def run(run: FleetRun, sizes: Sizes, profiler: Profiler) -> dict[str, Any]:
    assert run.pool is not None
    run.ensure_clients(sizes.s1_clients)
    rng = random.Random(SEED)
    total = int(sizes.s1_rate_per_s * sizes.s1_seconds)
    plan = [
        Planned(f"s1-{i}", {"kind": "users", "ids": [f"u{rng.randrange(sizes.s1_clients)}"]}, "bench.unicast")
        for i in range(total)
    ]
    settled_s = run.settle()
    run.pool.reset()
    lag_before = looplag.scrape_all(run.metrics_urls())
    meter = CpuMeter(run.pids()).start()
    with profiler.attach("s1", run.fleet.pids(), sizes.s1_seconds):
        published = publish_paced(run.client, run.keys, plan, sizes.s1_rate_per_s)
        wait_for_frames(run.pool, total, sizes.drain_quiet_s)
    cpu = meter.stop()
    cpu_system = meter.system_s
    lag_after = looplag.scrape_all(run.metrics_urls())
    # Receipts and history rows may trail the last frame: the fleet's CPU is read once it is idle.
    tail_s = run.settle()
    cpu_until_idle = meter.stop()
    got = run.pool.report()
    received_ids = {nid for nid in got.receivers if nid.startswith("s1-")}
    deliveries = got.latency.total
    gateway_cpu = sum(v for k, v in cpu.items() if k.startswith("gateway"))
    return {
        "clients": sizes.s1_clients,
        "gateways": sizes.gateways,
        "published": published.count,
        "publish_rate_per_s": published.rate_per_s,
        "received": deliveries,
        **got.latency.summary_ms(),
        "lost": total - len(received_ids),
        "duplicates": got.duplicates,
        "gateway_cpu_us_per_delivery": round(gateway_cpu / deliveries * 1e6, 2) if deliveries else None,
        "router_cpu_us_per_event": round(cpu.get("router", 0.0) / total * 1e6, 2),
        **fleet_cpu(cpu_until_idle, run.fleet_pids(), len(received_ids)),
        "fleet_idle_after_s": tail_s,
        "loop_lag_p99_ms": looplag.p99_by_service(lag_before, lag_after),
        "settle_s": settled_s,
        "services": sorted(run.fleet.processes),
        "cpu_s": cpu,
        "cpu_until_idle_s": cpu_until_idle,
        "cpu_system_s": cpu_system,
        "latency_curve": got.latency.percentile_curve(),
    }
