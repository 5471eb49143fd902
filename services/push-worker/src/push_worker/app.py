"""Push-worker process: consume push jobs (sending arrives with the push-worker issue)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from notify_common.consumer import ConsumerSettings, Entry, Outcome, StreamConsumer
from notify_common.keys import GROUP_PUSH, Keys
from notify_common.redis_conn import connect
from notify_common.schemas import BadEntry, decode_push_job
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from push_worker.config import PushConfig

log = structlog.get_logger("push_worker.app")


async def handle(entries: Sequence[Entry]) -> Outcome:
    outcome = Outcome()
    for entry in entries:
        try:
            job = decode_push_job(entry.fields)
        except BadEntry as exc:
            outcome.dead[entry.id] = str(exc)
            continue
        log.info("push_job_received", notification_id=job.notification.id, users=len(job.user_ids))
    return outcome


async def main(cfg: PushConfig) -> int:
    keys = Keys(cfg.key_prefix)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    settings = ConsumerSettings(
        stream=keys.push_jobs,
        group=GROUP_PUSH,
        consumer=cfg.node_id,
        dead_letter_stream=keys.dead_letters,
        batch=cfg.consumer_batch,
        block_ms=cfg.consumer_block_ms,
        claim_idle_ms=cfg.claim_idle_ms,
        max_deliveries=cfg.max_deliveries,
    )
    consumer = StreamConsumer(client, settings, handle)

    async def consume(stop: asyncio.Event) -> None:
        await consumer.run(stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {keys.push_jobs: [GROUP_PUSH]}, stop)

    try:
        return await run_service(
            cfg,
            "push-worker",
            [consume, trim],
            {
                "redis": redis_check(client),
                "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
            },
        )
    finally:
        await client.aclose()
