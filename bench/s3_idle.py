"""S3 idle connections on one node: RSS per connection at 10,000 and at the large step (50,000
where the node's open-file limit allows), and the node's CPU while it holds them idle.

The other node (no socket, same code, same window) is the baseline for the CPU: the node's CPU
above it, per 1,000 sockets, gives the projection to 50,000 where the box cannot hold them."""

from __future__ import annotations

import math
import time
from typing import Any

import psutil
from devstack.fleet import dev_token

from bench.clients import ClientPool, ClientSpec
from bench.fleetrun import BENCH_ROLE, FleetRun
from bench.procstats import CpuMeter, cpu_seconds
from bench.sizes import Sizes

PER_SOURCE_ADDRESS = 25_000
"""Client sockets per loopback source address (the ephemeral port range is ~28k wide)."""
PER_WORKER = 15_000
"""Client sockets per worker process (each process has its own open-file limit)."""
FD_RESERVE = 200
"""Descriptors the node needs besides client sockets (Redis pool, listeners, files)."""
NODE = "gateway-1"
EMPTY_NODE = "gateway-2"
PROJECTED_CONNECTIONS = 50_000


def node_socket_limit(pid: int) -> int:
    """The most client sockets the node's open-file limit leaves room for."""
    soft, _ = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    return max(0, int(soft) - FD_RESERVE)


def specs(run: FleetRun, first: int, count: int) -> list[ClientSpec]:
    """Users s3-<i>, every one on NODE, spread over loopback source addresses."""
    url = run.fleet.gateway_url(NODE)
    return [
        ClientSpec(
            user_id=f"s3-{i}",
            url=url,
            token=dev_token(f"s3-{i}", [BENCH_ROLE], ttl_s=3600),
            local_host=f"127.0.0.{2 + i // PER_SOURCE_ADDRESS}",
        )
        for i in range(first, first + count)
    ]


def connect(run: FleetRun, pool: ClientPool, first: int, count: int) -> dict[str, Any]:
    report = pool.connect(specs(run, first, count))
    if report["failures"]:
        raise RuntimeError(f"{report['failures']} clients failed to connect: {report['first_failures']}")
    return report


def kb_per_connection(grown: int, n: int) -> float | None:
    return round(grown / n / 1024, 2) if n else None


def run(run: FleetRun, sizes: Sizes) -> dict[str, Any]:
    assert run.pool is not None
    if run.pool.connected:
        return {"skipped": "S3 needs nodes that never held a connection; run it first"}
    pid = run.gateway_pids()[NODE]
    empty_pid = run.gateway_pids().get(EMPTY_NODE)
    large = min(sizes.s3_large_connections, node_socket_limit(pid))
    pool = ClientPool(max(2, math.ceil(large / PER_WORKER)))
    try:
        before = run.gateway_rss()[NODE]
        meter = CpuMeter({**run.pids(), **pool.pids}).start()
        report = connect(run, pool, 0, sizes.s3_connections)
        cpu = meter.stop()
        settled_s = run.settle()
        at_step = run.gateway_rss()[NODE]
        connect(run, pool, sizes.s3_connections, large - sizes.s3_connections)
        settled_large_s = run.settle()
        at_large = run.gateway_rss()[NODE]
        idle_started, idle_cpu = time.monotonic(), cpu_seconds(pid)
        empty_cpu = cpu_seconds(empty_pid) if empty_pid else 0.0
        time.sleep(sizes.s3_idle_cpu_s)
        idle_s = time.monotonic() - idle_started
        idle_pct = (cpu_seconds(pid) - idle_cpu) / idle_s * 100
        empty_pct = (cpu_seconds(empty_pid) - empty_cpu) / idle_s * 100 if empty_pid else 0.0
        after_idle = run.gateway_rss()[NODE]
    finally:
        pool.close()
    n = sizes.s3_connections
    per_step = kb_per_connection(at_step - before, n)
    per_large = kb_per_connection(at_large - before, large)
    reached = large >= sizes.s3_large_connections
    per_1k = max(0.0, idle_pct - empty_pct) / large * 1000 if large else 0.0
    return {
        "node": NODE,
        "connections": n,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(at_step / 2**20, 1),
        "kb_per_connection": per_step,
        "kb_per_connection_10k": per_step if n == 10_000 else None,
        "large_target": sizes.s3_large_connections,
        "large_connections": large,
        "large_capped_by": None if reached else f"the node's open-file limit ({large + FD_RESERVE})",
        "rss_large_mb": round(at_large / 2**20, 1),
        "kb_per_connection_large": per_large,
        "kb_per_connection_50k": per_large if reached and large == 50_000 else None,
        "idle_cpu_window_s": sizes.s3_idle_cpu_s,
        "idle_cpu_pct_large": round(idle_pct, 2),
        "idle_cpu_pct_no_sockets": round(empty_pct, 2),
        "idle_cpu_pct_per_1k": round(per_1k, 4),
        "idle_cpu_pct_50k_projected": round(empty_pct + per_1k * PROJECTED_CONNECTIONS / 1000, 2),
        "rss_after_idle_mb": round(after_idle / 2**20, 1),
        "connect_seconds": report.get("seconds"),
        "connects_per_s": round(n / float(report["seconds"]), 1) if report.get("seconds") else None,
        "settle_s": settled_s,
        "settle_large_s": settled_large_s,
        "services": sorted(run.fleet.processes),
        "cpu_s": cpu,
    }
