"""History process: store every published notification and its receipts, serve the inbox API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from notify_common.config import redact_url
from notify_common.consumer import ConsumerSettings, StreamConsumer
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.redis_conn import connect
from notify_common.service import READINESS, WORKERS, Worker, redis_check, run_service
from notify_common.trim import trim_loop

from history.api import DB, ApiSettings, api_app
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


def build(cfg: HistoryConfig) -> web.Application:
    """The history service: its inbox API, the event and receipt consumers, trimming and
    retention; the database is opened (and migrated) and closed with the application."""
    keys = Keys(cfg.key_prefix, cfg.stream_shards)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    settings = ApiSettings(
        jwt=cfg.jwt_settings(),
        jwks=cfg.jwks_cache(),
        admin_token=cfg.admin_token,
        page_max=cfg.inbox_page_max,
        key_prefix=cfg.key_prefix,
        stream_shards=cfg.stream_shards,
        allowed_origins=tuple(cfg.allowed_origins),
    )
    retention = RetentionSettings(
        max_age_days=cfg.retention_days,
        batch=cfg.retention_batch,
        interval_s=cfg.retention_interval_s,
        lease_ms=cfg.retention_lease_ms,
    )
    healthy_within = cfg.consumer_block_ms / 1000 + 10
    app = api_app(None, client, settings)
    trimmed = {stream: [GROUP_HISTORY] for stream in keys.receipt_shards}
    workers: list[Worker] = [lambda stop: trim_loop(client, trimmed, stop)]
    app[WORKERS] = workers
    app[READINESS] = {"redis": redis_check(client)}

    async def database(app: web.Application) -> AsyncIterator[None]:
        try:
            db = await open_database(cfg.database_url, pool_size=cfg.database_pool_size)
            try:
                await migrate(db)
                app[DB] = db
                # one consumer per shard of each stream; every replica reads every shard
                on_event = event_handler(db)
                on_receipt = receipt_handler(db, client, cfg.key_prefix, cfg.stream_shards)
                events = [
                    StreamConsumer(client, consumer_settings(cfg, stream), on_event)
                    for stream in keys.ingress_shards
                ]
                receipts = [
                    StreamConsumer(client, consumer_settings(cfg, stream), on_receipt)
                    for stream in keys.receipt_shards
                ]

                async def database_ready() -> bool:
                    return bool(await asyncio.wait_for(db.fetch("SELECT 1"), 2.0))

                app[WORKERS].extend(
                    [
                        *(consumer.run for consumer in [*events, *receipts]),
                        lambda stop: retention_loop(db, client, keys, retention, stop),
                    ]
                )
                app[READINESS].update(
                    {
                        "database": database_ready,
                        "events": lambda: all(c.healthy(healthy_within) for c in events),
                        "receipts": lambda: all(c.healthy(healthy_within) for c in receipts),
                    }
                )
                log.info("database_open", database=redact_url(cfg.database_url))
                yield
            finally:
                await db.close()
        finally:
            await client.aclose()

    app.cleanup_ctx.append(database)
    return app


async def main(cfg: HistoryConfig) -> int:
    return await run_service(cfg, "history", build(cfg), cfg.api_host, cfg.api_port)
