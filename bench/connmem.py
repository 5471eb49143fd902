"""Where an idle connection's bytes go: a gateway in this process, traced, with N clients.

`python -m bench.connmem --connections 10000` runs one gateway node on this process's loop
(tracemalloc on), connects a few warm-up clients, takes a snapshot, connects the rest from
client worker processes, and prints per connection: traced bytes by source line, live objects
by type, asyncio tasks, and the RSS delta. Not a scenario: a tool for finding what to cut
(bench/FINDINGS.md F12).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import tracemalloc
from typing import Any

import psutil
from devstack.fleet import DEV_JWT_SECRET, dev_token
from devstack.ports import free_port
from devstack.redis_server import start_redis
from gateway.app import main
from gateway.config import GatewayConfig
from notify_common.logging import configure_logging

from bench.clients import ClientPool, ClientSpec
from bench.procstats import raise_nofile_limit

WARM = 200


def type_counts() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def wait_listening(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("gateway did not start")


async def probe(connections: int, workers: int, top: int, idle_s: float) -> dict[str, Any]:
    server = start_redis()
    port = free_port()
    cfg = GatewayConfig(
        redis_url=server.url,
        jwt_secret=DEV_JWT_SECRET,
        port=port,
        ops_port=free_port(),
        node_id="gateway-probe",
        log_level="warning",
    )
    gateway = asyncio.create_task(main(cfg))
    pool = ClientPool(workers)
    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/ws"

    def specs(first: int, count: int) -> list[ClientSpec]:
        return [ClientSpec(f"u{i}", url, dev_token(f"u{i}", ["driver"])) for i in range(first, first + count)]

    try:
        await wait_listening(port)
        await loop.run_in_executor(None, pool.connect, specs(0, WARM))
        await asyncio.sleep(2)
        gc.unfreeze()
        counts0, tasks0 = type_counts(), len(asyncio.all_tasks())
        snap0 = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        rss0 = psutil.Process().memory_info().rss
        report = await loop.run_in_executor(None, pool.connect, specs(WARM, connections - WARM))
        await asyncio.sleep(5)
        gc.unfreeze()
        counts1, tasks1 = type_counts(), len(asyncio.all_tasks())
        snap1 = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        rss1 = psutil.Process().memory_info().rss
        n = report["connected"] - WARM
        cpu_before, idle_started = sum(psutil.Process().cpu_times()[:2]), loop.time()
        await asyncio.sleep(idle_s)
        idle_pct = (sum(psutil.Process().cpu_times()[:2]) - cpu_before) / (loop.time() - idle_started) * 100
        stats = snap1.compare_to(snap0, "lineno") if snap0 and snap1 else []
        traced = sum(s.size_diff for s in stats)
        lines = [(round(s.size_diff / n), s.count_diff / n, str(s.traceback)) for s in stats[:top]]
        grown = {t: counts1[t] - counts0[t] for t in counts1}
        objects = [(t, round(d / n, 2)) for t, d in grown.items() if d >= n // 2]
        return {
            "connections": n,
            "rss_bytes_per_connection": round((rss1 - rss0) / n),
            "traced_bytes_per_connection": round(traced / n),
            "tasks_per_connection": round((tasks1 - tasks0) / n, 2),
            "idle_cpu_pct": round(idle_pct, 2),
            "lines": lines,
            "objects": sorted(objects, key=lambda x: -x[1]),
        }
    finally:
        pool.close()
        gateway.cancel()
        with contextlib.suppress(asyncio.CancelledError, BaseException):
            await gateway
        server.stop()


def main_cli() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.connmem", description=__doc__)
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--idle-s", type=float, default=0.0, help="then read this process's CPU while idle")
    p.add_argument("--frames", type=int, default=1, help="tracemalloc frames kept per allocation")
    args = p.parse_args()
    raise_nofile_limit()
    configure_logging("gateway", "gateway-probe", "json", "warning")
    if os.environ.get("CONNMEM_TRACE", "1") == "1":
        tracemalloc.start(args.frames)
    result = asyncio.run(probe(args.connections, args.workers, args.top, args.idle_s))
    for key in ("connections", "rss_bytes_per_connection", "traced_bytes_per_connection"):
        print(f"{key}: {result[key]}")
    print(f"tasks_per_connection: {result['tasks_per_connection']}")
    print(f"idle_cpu_pct: {result['idle_cpu_pct']}")
    print("\nbytes/conn  blocks/conn  line")
    for size, count, where in result["lines"]:
        print(f"{size:>9}  {count:>10.2f}  {where}")
    print("\nobjects per connection by type")
    for name, per in result["objects"]:
        print(f"{per:>7}  {name}")


if __name__ == "__main__":
    main_cli()
