"""Router process: consume the ingress stream, release scheduled events, serve the HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from notify_common.consumer import ConsumerSettings, StreamConsumer
from notify_common.fastpack import pack_with_hiredis
from notify_common.keys import GROUP_HISTORY, GROUP_ROUTER, Keys
from notify_common.ops import ReadinessCheck
from notify_common.redis_conn import connect
from notify_common.service import READINESS, WORKERS, Worker, redis_check, run_service
from notify_common.trim import trim_loop

from router.config import RouterConfig
from router.http_api import ApiSettings, api_app
from router.routing import Router
from router.scheduler import Scheduler

log = structlog.get_logger("router.app")


def api_settings(cfg: RouterConfig) -> ApiSettings:
    return ApiSettings(
        service_tokens=tuple(t for t in cfg.service_tokens if t),
        jwt=cfg.jwt_settings(),
        jwks=cfg.jwks_cache(),
        batch_max=cfg.http_batch_max,
        max_body_bytes=cfg.http_max_body_bytes,
        allowed_origins=tuple(cfg.allowed_origins),
    )


def build(cfg: RouterConfig) -> web.Application:
    """The router: its HTTP API, the ingress consumer, the scheduler and trimming, opened and
    closed with the application."""
    keys = Keys(cfg.key_prefix, cfg.stream_shards)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    # routing pipelines: C packing, no per-reply timer (Router and Scheduler bound each batch)
    fanout_client = pack_with_hiredis(connect(cfg.redis_url, per_read_timeout=False))
    # one consumer per ingress shard, each with a Router (and so a connection) of its own, so
    # shards are routed side by side; every replica reads every shard through its group
    routers = [Router(fanout_client, keys, cfg) for _ in keys.ingress_shards]
    consumers = [
        StreamConsumer(client, ConsumerSettings.from_config(cfg, stream, GROUP_ROUTER), router.handle)
        for stream, router in zip(keys.ingress_shards, routers, strict=True)
    ]
    scheduler = Scheduler(fanout_client, keys, cfg, routers[0])

    async def connections(_: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for router in routers:
                await router.aclose()
            await fanout_client.aclose()
            await client.aclose()

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(
            client, {stream: [GROUP_ROUTER, GROUP_HISTORY] for stream in keys.ingress_shards}, stop
        )

    app = api_app(client, keys, api_settings(cfg))
    app.cleanup_ctx.append(connections)
    workers: list[Worker] = [*(consumer.run for consumer in consumers), scheduler.run, trim]
    app[WORKERS] = workers
    healthy_within = cfg.consumer_block_ms / 1000 + 10
    checks: dict[str, ReadinessCheck] = {
        "redis": redis_check(client),
        "consumer": lambda: all(consumer.healthy(healthy_within) for consumer in consumers),
    }
    app[READINESS] = checks
    return app


async def main(cfg: RouterConfig) -> int:
    log.info("http_api_configured", publishing=bool(cfg.service_tokens))
    return await run_service(cfg, "router", build(cfg), cfg.http_host, cfg.http_port)
