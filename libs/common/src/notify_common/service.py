"""The frame every service's main runs in: ops server, signals, workers, bounded shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import redis.asyncio as redis_async
import structlog

from notify_common.config import CommonConfig, redact_url
from notify_common.gc_policy import keep_collections_short
from notify_common.lifecycle import run_until_stopped, stop_on_signals
from notify_common.loop_lag import monitor_loop_lag
from notify_common.ops import ReadinessCheck, ops_app, start_site

log = structlog.get_logger("notify_common.service")

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def redis_check(client: redis_async.Redis, timeout_s: float = 1.0) -> ReadinessCheck:
    """Readiness check: Redis answers PING within `timeout_s`."""

    async def check() -> bool:
        try:
            return bool(await asyncio.wait_for(client.ping(), timeout_s))
        except Exception:
            return False

    return check


async def run_service(
    cfg: CommonConfig,
    service: str,
    workers: list[Worker],
    checks: Mapping[str, ReadinessCheck],
) -> int:
    """Serve ops endpoints and run `workers` until SIGTERM/SIGINT; returns the exit status.

    Every service also reports its event-loop lag (`nf_event_loop_lag_seconds`) from here, and
    keeps its garbage collector's pauses short (gc_policy).
    """
    stop = asyncio.Event()
    stop_on_signals(stop)
    runner, port = await start_site(ops_app(checks, cfg.metrics_token), cfg.ops_host, cfg.ops_port)
    log.info("service_started", service=service, ops_port=port, redis=redact_url(cfg.redis_url))
    started = time.monotonic()
    try:
        coroutines = [*(w(stop) for w in workers), monitor_loop_lag(stop), keep_collections_short(stop)]
        status = await run_until_stopped(coroutines, stop, cfg.shutdown_grace_s)
    finally:
        await runner.cleanup()
    log.info("service_stopped", service=service, status=status, uptime_s=round(time.monotonic() - started, 3))
    return status
