"""History process: store every published notification."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
from notify_common.consumer import ConsumerSettings, Entry, Outcome, StreamConsumer
from notify_common.keys import GROUP_HISTORY, Keys
from notify_common.redis_conn import connect
from notify_common.schemas import BadEntry, UsersAudience, decode_event, notification_from_event
from notify_common.service import redis_check, run_service
from notify_common.trim import trim_loop

from history.config import HistoryConfig
from history.store import SqliteStore


def make_handler(store: SqliteStore):  # type: ignore[no-untyped-def]
    async def handle(entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        rows = []
        for entry in entries:
            try:
                event = decode_event(entry.fields)
            except BadEntry as exc:
                outcome.dead[entry.id] = str(exc)
                continue
            if event.transient:
                continue
            n = notification_from_event(event, entry.id)
            recipients = event.audience.ids if isinstance(event.audience, UsersAudience) else ["*"]
            data = msgspec.json.encode(n.data).decode()
            rows += [(n.id, user, n.type, n.title, n.body, data, n.created_ms) for user in recipients]
        if rows:
            await store.insert(rows)
        return outcome

    return handle


async def main(cfg: HistoryConfig) -> int:
    keys = Keys(cfg.key_prefix)
    client = connect(cfg.redis_url, block_ms=cfg.consumer_block_ms)
    store = SqliteStore(cfg.database_url.removeprefix("sqlite:///"))
    await store.open()
    settings = ConsumerSettings(
        stream=keys.ingress,
        group=GROUP_HISTORY,
        consumer=cfg.node_id,
        dead_letter_stream=keys.dead_letters,
        batch=cfg.consumer_batch,
        block_ms=cfg.consumer_block_ms,
        claim_idle_ms=cfg.claim_idle_ms,
        max_deliveries=cfg.max_deliveries,
    )
    consumer = StreamConsumer(client, settings, make_handler(store))

    async def consume(stop: asyncio.Event) -> None:
        await consumer.run(stop)

    async def trim(stop: asyncio.Event) -> None:
        await trim_loop(client, {keys.receipts: [GROUP_HISTORY]}, stop)

    try:
        return await run_service(
            cfg,
            "history",
            [consume, trim],
            {
                "redis": redis_check(client),
                "consumer": lambda: consumer.healthy(cfg.consumer_block_ms / 1000 + 10),
            },
        )
    finally:
        await store.close()
        await client.aclose()
