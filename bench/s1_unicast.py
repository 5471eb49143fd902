"""S1 unicast: N connected users; a domain service publishes R events/s, each to one random user."""

from __future__ import annotations

import random
from typing import Any

from bench.fleetrun import FleetRun
from bench.procstats import CpuMeter
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
    meter = CpuMeter(run.pids()).start()
    with profiler.attach("s1", run.fleet.pids(), sizes.s1_seconds):
        published = publish_paced(run.client, run.keys, plan, sizes.s1_rate_per_s)
        wait_for_frames(run.pool, total, sizes.drain_quiet_s)
    cpu = meter.stop()
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
        "settle_s": settled_s,
        "services": sorted(run.fleet.processes),
        "cpu_s": cpu,
        "cpu_system_s": meter.system_s,
        "latency_curve": got.latency.percentile_curve(),
    }
