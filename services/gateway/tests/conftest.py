"""Gateway fixtures: real gateway nodes on free ports against the session's real Redis."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis_async
from notify_common.keys import Keys

sys.path.insert(0, str(Path(__file__).parent))  # the tests import gwkit from here

from gwkit import GatewayFactory, RunningGateway, start_gateway


@pytest.fixture
async def gateway_factory(redis_url: str, keys: Keys) -> AsyncIterator[GatewayFactory]:
    started: list[RunningGateway] = []

    async def factory(node_id: str = "gw-test", **settings: Any) -> RunningGateway:
        gw = await start_gateway(redis_url, keys, node_id, **settings)
        started.append(gw)
        return gw

    try:
        yield factory
    finally:
        for gw in started:
            await gw.close()


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    return await gateway_factory()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def rclient(redis_url: str) -> AsyncIterator[redis_async.Redis]:
    client = redis_async.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
