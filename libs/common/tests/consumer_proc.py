"""A consumer process for crash tests: records what it handles, then never acks (hangs)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import redis.asyncio as redis_async
from notify_common.consumer import ConsumerSettings, Entry, StreamConsumer


async def main(url: str, stream: str, group: str, name: str, seen_key: str) -> None:
    client = redis_async.Redis.from_url(url)

    async def handle(entries: Sequence[Entry]) -> None:
        await client.rpush(seen_key, *[f"{name}:{e.id}" for e in entries])
        await asyncio.Event().wait()  # stuck forever: the test SIGKILLs us before any ack

    settings = ConsumerSettings(
        stream=stream, group=group, consumer=name, dead_letter_stream=stream + ":dead", batch=50
    )
    await StreamConsumer(client, settings, handle).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
