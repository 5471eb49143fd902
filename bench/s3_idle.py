"""S3 idle connections: gateway RSS before and after N idle authenticated connections."""

from __future__ import annotations

from typing import Any

from bench.fleetrun import FleetRun
from bench.procstats import CpuMeter
from bench.sizes import Sizes


def run(run: FleetRun, sizes: Sizes) -> dict[str, Any]:
    assert run.pool is not None
    if run.pool.connected:
        return {"skipped": "S3 needs nodes that never held a connection; run it first"}
    before = run.gateway_rss()
    meter = CpuMeter(run.pids()).start()
    report = run.ensure_clients(sizes.s3_connections)
    cpu = meter.stop()
    settled_s = run.settle()
    after = run.gateway_rss()
    grown = sum(after.values()) - sum(before.values())
    n = len(run.pool.connected)
    return {
        "connections": n,
        "gateways": len(before),
        "rss_before_mb": {k: round(v / 2**20, 1) for k, v in before.items()},
        "rss_after_mb": {k: round(v / 2**20, 1) for k, v in after.items()},
        "kb_per_connection": round(grown / n / 1024, 2) if n else None,
        "connect_seconds": report.get("seconds"),
        "connects_per_s": round(n / float(report["seconds"]), 1) if report.get("seconds") else None,
        "settle_s": settled_s,
        "services": sorted(run.fleet.processes),
        "cpu_s": cpu,
    }
