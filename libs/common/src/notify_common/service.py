"""The frame every service runs in, in production and in tests: one assembled application.

Each service has one `build(cfg) -> web.Application`: its HTTP surface, the resources it opens
and closes in `cleanup_ctx` generators (the close next to the open), its background workers
(`WORKERS`) and its readiness checks (`READINESS`). `start()` serves such an application and runs
its workers; `run_service()` adds what only a process has: signals, the ops server, loop-lag
and garbage-collector care. Tests start the very same application with `start()`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis_async
import structlog
from aiohttp import web

from notify_common.config import CommonConfig, redact_url
from notify_common.gc_policy import keep_collections_short
from notify_common.lifecycle import run_until_stopped, stop_on_signals
from notify_common.loop_lag import monitor_loop_lag
from notify_common.ops import ReadinessCheck, ops_app, start_site

log = structlog.get_logger("notify_common.service")

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A background loop: runs until the event is set (then finishes within the shutdown grace)."""

WORKERS = web.AppKey("workers", list[Worker])
"""The service's background workers; a cleanup context may add to them once its resource is open."""
READINESS = web.AppKey("readiness", dict[str, ReadinessCheck])
"""The checks behind /readyz, by name."""


def redis_check(client: redis_async.Redis, timeout_s: float = 1.0) -> ReadinessCheck:
    """Readiness check: Redis answers PING within `timeout_s`."""

    async def check() -> bool:
        try:
            return bool(await asyncio.wait_for(client.ping(), timeout_s))
        except Exception:
            return False

    return check


@dataclass
class Running:
    """A service application serving on `port` with its workers running until `stop` is set."""

    app: web.Application
    runner: web.AppRunner
    port: int
    stop: asyncio.Event
    workers: asyncio.Task[int]

    async def wait(self) -> int:
        """Until the workers end (after `stop`, or one failing), then close the application.

        Returns the exit status: 0 after a clean stop, 1 if a worker failed."""
        try:
            return await self.workers
        finally:
            await self.runner.cleanup()  # on_shutdown, then the cleanup contexts close, newest first

    async def close(self) -> int:
        """Stop the workers and close the application; returns the exit status."""
        self.stop.set()
        return await self.wait()


async def start(
    app: web.Application,
    host: str,
    port: int,
    *,
    grace_s: float,
    backlog: int = 128,
    stop: asyncio.Event | None = None,
    extra: Sequence[Worker] = (),
) -> Running:
    """Open the application's resources, serve it on `host:port` (0: any) and start its workers
    (and `extra`); `grace_s` bounds how long the workers may take to finish once stopped."""
    stop = stop or asyncio.Event()
    runner, bound = await start_site(app, host, port, backlog)
    coroutines = [w(stop) for w in (*(app.get(WORKERS) or []), *extra)]
    task = asyncio.create_task(run_until_stopped(coroutines, stop, grace_s))
    return Running(app, runner, bound, stop, task)


async def run_service(
    cfg: CommonConfig,
    service: str,
    app: web.Application,
    host: str,
    port: int,
    backlog: int = 128,
) -> int:
    """Serve `app` and the ops endpoints, run its workers until SIGTERM/SIGINT; returns the exit status.

    Every service also reports its event-loop lag (`nf_event_loop_lag_seconds`) from here, and
    keeps its garbage collector's pauses short (gc_policy).
    """
    stop = asyncio.Event()
    stop_on_signals(stop)
    running = await start(
        app,
        host,
        port,
        grace_s=cfg.shutdown_grace_s,
        backlog=backlog,
        stop=stop,
        extra=[monitor_loop_lag, keep_collections_short],
    )
    started = time.monotonic()
    checks: dict[str, ReadinessCheck] = app.get(READINESS) or {}
    try:
        ops_runner, ops_port = await start_site(
            ops_app(checks, cfg.metrics_token), cfg.ops_host, cfg.ops_port
        )
    except BaseException:
        await running.close()
        raise
    redis = redact_url(cfg.redis_url)
    log.info("service_started", service=service, port=running.port, ops_port=ops_port, redis=redis)
    try:
        status = await running.wait()
    finally:
        await ops_runner.cleanup()
    log.info("service_stopped", service=service, status=status, uptime_s=round(time.monotonic() - started, 3))
    return status
