from __future__ import annotations

import asyncio
import time

from aiohttp import web
from notify_common.config import CommonConfig
from notify_common.loop_lag import monitor_loop_lag
from notify_common.service import WORKERS, run_service
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

DEADLINE_S = 5.0


def observations_above(histogram_name: str, registry: CollectorRegistry, le: str) -> float:
    count = registry.get_sample_value(f"{histogram_name}_count") or 0.0
    below = registry.get_sample_value(f"{histogram_name}_bucket", {"le": le}) or 0.0
    return count - below


async def test_a_blocked_loop_shows_as_lag() -> None:
    registry = CollectorRegistry()
    lag = Histogram("lag_seconds", "test", buckets=(0.04,), registry=registry)
    stop = asyncio.Event()
    # A short interval puts the monitor's next wake-up inside the block, so it comes ~45 ms late.
    monitor = asyncio.create_task(monitor_loop_lag(stop, interval_s=0.005, histogram=lag))
    try:
        await asyncio.sleep(0)  # let the monitor start its first sleep
        time.sleep(0.05)  # a blocking call on the event loop, the fault being measured
        deadline = time.monotonic() + DEADLINE_S
        while observations_above("lag_seconds", registry, "0.04") < 1:
            assert time.monotonic() < deadline, "no lag of 40 ms or more was observed"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await monitor


async def test_run_service_reports_event_loop_lag() -> None:
    def samples() -> float:
        return REGISTRY.get_sample_value("nf_event_loop_lag_seconds_count") or 0.0

    before = samples()

    async def worker(stop: asyncio.Event) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while samples() <= before:
            assert time.monotonic() < deadline, "run_service observed no event-loop lag"
            await asyncio.sleep(0.01)
        stop.set()

    cfg = CommonConfig(ops_host="127.0.0.1", ops_port=0)
    app = web.Application()
    app[WORKERS] = [worker]
    assert await run_service(cfg, "test", app, "127.0.0.1", 0) == 0
    assert samples() > before
