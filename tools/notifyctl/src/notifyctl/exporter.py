"""`notifyctl exporter`: stream lengths, group lag and pending as Prometheus gauges.

Lag is a fact about Redis, not about one replica, so one small exporter reads it on each scrape
(XINFO) instead of every consumer replica reporting the same number.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as redis_async
from aiohttp import web
from notify_common.http_auth import require_token
from notify_common.keys import Keys
from notify_common.lifecycle import stop_on_signals
from notify_common.ops import start_site
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from notifyctl.streams import StreamInfo, fleet_streams


def render_metrics(streams: list[StreamInfo], registry: CollectorRegistry | None = None) -> bytes:
    """The exposition text of one reading (a fresh registry per scrape: streams come and go)."""
    registry = registry or CollectorRegistry()
    length = Gauge("nf_stream_length", "Entries in a stream (XLEN).", ["stream"], registry=registry)
    lag = Gauge(
        "nf_stream_group_lag",
        "Entries a consumer group has not read yet.",
        ["stream", "group"],
        registry=registry,
    )
    pending = Gauge(
        "nf_stream_group_pending",
        "Entries a consumer group read but has not acked.",
        ["stream", "group"],
        registry=registry,
    )
    consumers = Gauge(
        "nf_stream_group_consumers", "Consumers known to a group.", ["stream", "group"], registry=registry
    )
    for s in streams:
        length.labels(stream=s.name).set(s.length)
        for g in s.groups:
            if g.lag is not None:
                lag.labels(stream=s.name, group=g.name).set(g.lag)
            pending.labels(stream=s.name, group=g.name).set(g.pending)
            consumers.labels(stream=s.name, group=g.name).set(len(g.consumers))
    return generate_latest(registry)


def exporter_app(client: redis_async.Redis, keys: Keys, metrics_token: str = "") -> web.Application:
    """/metrics reads Redis on each scrape; /healthz and /readyz (Redis answers) for probes."""

    async def metrics(request: web.Request) -> web.Response:
        if metrics_token:
            require_token(request, [metrics_token], "METRICS_TOKEN")
        body = render_metrics(await fleet_streams(client, keys))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(client.ping(), 1.0)
        except Exception:
            return web.json_response({"status": "not ready", "failing": ["redis"]}, status=503)
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(
    client: redis_async.Redis, keys: Keys, host: str, port: int, metrics_token: str, as_json: bool = False
) -> int:
    """Serve until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    runner, bound = await start_site(exporter_app(client, keys, metrics_token), host, port)
    url = f"http://{host}:{bound}/metrics"
    print(json.dumps({"metrics_url": url}) if as_json else f"notifyctl exporter on {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
