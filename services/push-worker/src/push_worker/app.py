"""Push-worker process: push jobs and due retries to FCM, plus the device token HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from firebase_admin import credentials
from notify_common.consumer import ConsumerSettings, StreamConsumer
from notify_common.keys import GROUP_PUSH, Keys
from notify_common.ops import ReadinessCheck
from notify_common.redis_conn import connect
from notify_common.service import READINESS, WORKERS, Worker, redis_check, run_service
from notify_common.trim import trim_loop

from push_worker.api import api_app
from push_worker.config import PushConfig
from push_worker.fcm import Fcm, close_app, init_app
from push_worker.jobs import JobHandler
from push_worker.retries import retry_loop
from push_worker.sender import build_sender
from push_worker.tokens import keep_token_fresh

log = structlog.get_logger("push_worker.app")


def build(cfg: PushConfig, credential: credentials.Base) -> web.Application:
    """The push-worker: its device API, the push-job consumer, due retries, the FCM token refresh
    and trimming, opened and closed with the application."""
    keys = Keys(cfg.key_prefix, cfg.stream_shards)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    fcm = Fcm(init_app(cfg, credential))
    sender = build_sender(cfg, client, keys, fcm)
    handler = JobHandler(sender, asyncio.Event(), claim_idle_s=cfg.claim_idle_ms / 1000)
    # one consumer per push shard; every replica reads every shard through its group
    consumers = [
        StreamConsumer(client, ConsumerSettings.from_config(cfg, stream, GROUP_PUSH), handler)
        for stream in keys.push_shards
    ]

    async def connections(_: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await close_app(fcm.app)
            await client.aclose()

    async def consume(stop: asyncio.Event) -> None:
        handler.stop = stop  # a paused handler wakes up for shutdown
        async with asyncio.TaskGroup() as shards:
            for consumer in consumers:
                shards.create_task(consumer.run(stop))

    async def retries(stop: asyncio.Event) -> None:
        await retry_loop(sender, stop)

    async def tokens(stop: asyncio.Event) -> None:
        await keep_token_fresh(fcm, sender.alarm, stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {stream: [GROUP_PUSH] for stream in keys.push_shards}, stop)

    def fcm_auth_ok() -> bool:
        if sender.alarm.alarmed:
            log.warning("fcm_auth_alarm", paused=sender.alarm.reasons())
        return not sender.alarm.alarmed

    app = api_app(client, keys, cfg)
    app.cleanup_ctx.append(connections)
    workers: list[Worker] = [consume, retries, tokens, trim]
    app[WORKERS] = workers
    healthy_within = cfg.consumer_block_ms / 1000 + 10
    checks: dict[str, ReadinessCheck] = {
        "redis": redis_check(client),
        "consumer": lambda: all(consumer.healthy(healthy_within) for consumer in consumers),
        "fcm_auth": fcm_auth_ok,
    }
    app[READINESS] = checks
    return app


async def main(cfg: PushConfig, credential: credentials.Base) -> int:
    return await run_service(cfg, "push-worker", build(cfg, credential), cfg.api_host, cfg.api_port)
