"""S2 broadcast: every connected client holds role `driver`; one role broadcast every interval."""

from __future__ import annotations

from typing import Any

from bench.fleetrun import BENCH_ROLE, FleetRun
from bench.histogram import Histogram
from bench.procstats import CpuMeter
from bench.profiling import Profiler
from bench.publisher import Planned, publish_paced
from bench.sizes import Sizes
from bench.waiting import wait_for_frames


def run(run: FleetRun, sizes: Sizes, profiler: Profiler) -> dict[str, Any]:
    assert run.pool is not None
    run.ensure_clients(sizes.s1_clients)
    clients = len(run.pool.connected)
    count = round(sizes.s2_seconds / sizes.s2_interval_s)
    plan = [Planned(f"s2-{i}", {"kind": "role", "role": BENCH_ROLE}, "bench.broadcast") for i in range(count)]
    expected = count * clients
    settled_s = run.settle()
    run.pool.reset()
    meter = CpuMeter(run.pids()).start()
    with profiler.attach("s2", run.fleet.pids(), sizes.s2_seconds):
        published = publish_paced(run.client, run.keys, plan, 1 / sizes.s2_interval_s)
        wait_for_frames(run.pool, expected, sizes.drain_quiet_s)
    cpu = meter.stop()
    got = run.pool.report()
    last_client = Histogram()
    last_client.record_all(got.last_receive_ns.get(p.id, 0) / 1000 for p in plan if p.id in got.receivers)
    deliveries = sum(got.receivers.get(p.id, 0) for p in plan)
    span_s = (got.last_frame_ns - published.first_ns) / 1e9 if got.last_frame_ns else 0.0
    gateway_cpu = sum(v for k, v in cpu.items() if k.startswith("gateway"))
    return {
        "clients": clients,
        "broadcasts": count,
        "deliveries": deliveries,
        "deliveries_per_s": round(deliveries / span_s, 1) if span_s > 0 else 0.0,
        "p50_last_client_ms": last_client.quantile_ms(0.5),
        "p99_last_client_ms": last_client.quantile_ms(0.99),
        "max_last_client_ms": round(last_client.max_us / 1000, 3),
        "delivery_latency": got.latency.summary_ms(),
        "lost": expected - deliveries,
        "duplicates": got.duplicates,
        "gateway_cpu_s": round(gateway_cpu, 3),
        "gateway_cpu_us_per_delivery": round(gateway_cpu / deliveries * 1e6, 2) if deliveries else None,
        "settle_s": settled_s,
        "services": sorted(run.fleet.processes),
        "cpu_s": cpu,
        "cpu_system_s": meter.system_s,
        "latency_curve": got.latency.percentile_curve(),
        "last_client_curve": last_client.percentile_curve(),
    }
