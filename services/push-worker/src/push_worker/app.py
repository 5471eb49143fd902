"""Push-worker process: push jobs and due retries to FCM, plus the device token HTTP API."""

from __future__ import annotations

import asyncio

import structlog
from firebase_admin import credentials
from notify_common.consumer import ConsumerSettings, StreamConsumer
from notify_common.keys import GROUP_PUSH, Keys
from notify_common.ops import start_site
from notify_common.redis_conn import connect
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from push_worker.api import api_app
from push_worker.config import PushConfig
from push_worker.fcm import Fcm, close_app, init_app
from push_worker.jobs import JobHandler
from push_worker.retries import retry_loop
from push_worker.sender import build_sender
from push_worker.tokens import keep_token_fresh

log = structlog.get_logger("push_worker.app")


async def main(cfg: PushConfig, credential: credentials.Base) -> int:
    keys = Keys(cfg.key_prefix)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    fcm = Fcm(init_app(cfg, credential))
    sender = build_sender(cfg, client, keys, fcm)
    handler = JobHandler(sender, asyncio.Event(), claim_idle_s=cfg.claim_idle_ms / 1000)
    settings = ConsumerSettings.from_config(cfg, keys.push_jobs, GROUP_PUSH)
    consumer = StreamConsumer(client, settings, handler)

    async def consume(stop: asyncio.Event) -> None:
        handler.stop = stop  # a paused handler wakes up for shutdown
        await consumer.run(stop)

    async def retries(stop: asyncio.Event) -> None:
        await retry_loop(sender, stop)

    async def tokens(stop: asyncio.Event) -> None:
        await keep_token_fresh(fcm, sender.alarm, stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {keys.push_jobs: [GROUP_PUSH]}, stop)

    async def serve_api(stop: asyncio.Event) -> None:
        runner, port = await start_site(api_app(client, keys, cfg), cfg.api_host, cfg.api_port)
        log.info("device_api_started", port=port)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    def fcm_auth_ok() -> bool:
        if sender.alarm.alarmed:
            log.warning("fcm_auth_alarm", paused=sender.alarm.reasons())
        return not sender.alarm.alarmed

    try:
        return await run_service(
            cfg,
            "push-worker",
            [consume, retries, tokens, trim, serve_api],
            {
                "redis": redis_check(client),
                "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
                "fcm_auth": fcm_auth_ok,
            },
        )
    finally:
        await close_app(fcm.app)
        await client.aclose()
