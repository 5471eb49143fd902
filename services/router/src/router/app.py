"""Router process: consume the ingress stream and fan events out."""

from __future__ import annotations

import asyncio

from notify_common.consumer import ConsumerSettings, StreamConsumer
from notify_common.keys import GROUP_HISTORY, GROUP_ROUTER, Keys
from notify_common.redis_conn import connect
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from router.config import RouterConfig
from router.routing import Router


async def main(cfg: RouterConfig) -> int:
    keys = Keys(cfg.key_prefix)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    settings = ConsumerSettings(
        stream=keys.ingress,
        group=GROUP_ROUTER,
        consumer=cfg.node_id,
        dead_letter_stream=keys.dead_letters,
        batch=cfg.consumer_batch,
        block_ms=cfg.consumer_block_ms,
        claim_idle_ms=cfg.claim_idle_ms,
        max_deliveries=cfg.max_deliveries,
    )
    consumer = StreamConsumer(client, settings, Router(client, keys, cfg).handle)

    async def consume(stop: asyncio.Event) -> None:
        await consumer.run(stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {keys.ingress: [GROUP_ROUTER, GROUP_HISTORY]}, stop)

    try:
        return await run_service(
            cfg,
            "router",
            [consume, trim],
            {
                "redis": redis_check(client),
                "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
            },
        )
    finally:
        await client.aclose()
