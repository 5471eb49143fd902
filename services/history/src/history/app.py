"""History process: store every published notification and its receipts, serve the inbox API."""

from __future__ import annotations

import asyncio
import dataclasses

import redis.asyncio as redis_async
import structlog
from notify_common.config import redact_url
from notify_common.consumer import ConsumerSettings, Handler, StreamConsumer
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.ops import start_site
from notify_common.redis_conn import connect
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from history.api import ApiSettings, api_app
from history.config import HistoryConfig
from history.db import open_database
from history.ingest import event_handler, receipt_handler
from history.migrate import migrate
from history.retention import RetentionSettings, retention_loop

log = structlog.get_logger("history.app")


def consumer_settings(cfg: HistoryConfig, stream: str) -> ConsumerSettings:
    """History is off the delivery path: it trades up to a write window of lag for one commit
    (and one XACK) per window instead of one per entry."""
    settings = ConsumerSettings.from_config(cfg, stream, GROUP_HISTORY, linger_ms=cfg.history_write_window_ms)
    return dataclasses.replace(settings, batch=cfg.history_batch)


def _consumer(client: redis_async.Redis, cfg: HistoryConfig, stream: str, handler: Handler) -> StreamConsumer:
    return StreamConsumer(client, consumer_settings(cfg, stream), handler)


async def main(cfg: HistoryConfig) -> int:
    keys = Keys(cfg.key_prefix)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    db = await open_database(cfg.database_url, pool_size=cfg.database_pool_size)
    try:
        await migrate(db)
        events = _consumer(client, cfg, keys.ingress, event_handler(db))
        receipts = _consumer(client, cfg, keys.receipts, receipt_handler(db, client, cfg.key_prefix))
        api = api_app(
            db,
            client,
            ApiSettings(
                jwt=cfg.jwt_settings(),
                jwks=cfg.jwks_cache(),
                admin_token=cfg.admin_token,
                page_max=cfg.inbox_page_max,
                key_prefix=cfg.key_prefix,
                allowed_origins=tuple(cfg.allowed_origins),
            ),
        )
        runner, api_port = await start_site(api, cfg.api_host, cfg.api_port)
        log.info("inbox_api_started", port=api_port, database=redact_url(cfg.database_url))
        retention = RetentionSettings(
            max_age_days=cfg.retention_days,
            batch=cfg.retention_batch,
            interval_s=cfg.retention_interval_s,
            lease_ms=cfg.retention_lease_ms,
        )
        healthy_within = cfg.consumer_block_ms / 1000 + 10

        async def database_ready() -> bool:
            return bool(await asyncio.wait_for(db.fetch("SELECT 1"), 2.0))

        try:
            return await run_service(
                cfg,
                "history",
                [
                    events.run,
                    receipts.run,
                    lambda stop: trim_loop(client, {keys.receipts: [GROUP_HISTORY]}, stop),
                    lambda stop: retention_loop(db, client, keys, retention, stop),
                ],
                {
                    "redis": redis_check(client),
                    "database": database_ready,
                    "events": lambda: events.healthy(healthy_within),
                    "receipts": lambda: receipts.healthy(healthy_within),
                },
            )
        finally:
            await runner.cleanup()
    finally:
        await db.close()
        await client.aclose()
