"""Helpers shared by the push-worker tests (on sys.path through conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as redis_async
from devstack.fleet import DEV_JWT_SECRET
from notify_common.config import load_config
from notify_common.consumer import Entry
from notify_common.keys import Keys
from notify_common.schemas import FIELD_JOB, FIELD_RECEIPT, Notification, PushJob, Receipt, encode
from push_worker.config import PushConfig

NOW_MS = 1_800_000_000_000


def push_config(keys: Keys, **env: str) -> PushConfig:
    return load_config(PushConfig, {"JWT_SECRET": DEV_JWT_SECRET, "KEY_PREFIX": keys.prefix, **env})


def notification(notification_id: str = "n1", **fields: Any) -> Notification:
    base: dict[str, Any] = {
        "id": notification_id,
        "type": "order.shipped",
        "title": "Shipped",
        "created_ms": NOW_MS,
    }
    return msgspec.convert({**base, **fields}, Notification)


def job_entry(entry_id: str, job: PushJob, extra: Mapping[bytes, bytes] | None = None) -> Entry:
    return Entry(entry_id, {FIELD_JOB: encode(job), **(extra or {})})


async def receipts(client: redis_async.Redis, keys: Keys) -> list[Receipt]:
    entries = await client.xrange(keys.receipts)
    return [msgspec.json.decode(fields[FIELD_RECEIPT], type=Receipt) for _, fields in entries]


async def dead_letters(client: redis_async.Redis, keys: Keys) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await client.xrange(keys.dead_letters)]
