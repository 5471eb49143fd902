from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as redis_async
from notify_common.ops import ops_app, start_site
from notify_common.service import redis_check


@pytest.fixture
async def ops_url(redis: redis_async.Redis) -> AsyncIterator[str]:
    state = {"consumer": True}
    app = ops_app({"redis": redis_check(redis), "consumer": lambda: state["consumer"]}, "s3cret")
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_healthz_and_readyz_answer_when_everything_is_up(ops_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ops_url}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{ops_url}/readyz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ready"}


async def test_readyz_names_the_failing_check() -> None:
    dead = redis_async.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    runner, port = await start_site(ops_app({"redis": redis_check(dead, 0.5)}), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            assert await resp.json() == {"status": "not ready", "failing": ["redis"]}
    finally:
        await runner.cleanup()
        await dead.aclose()


async def test_metrics_need_the_bearer_token_when_one_is_set(ops_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ops_url}/metrics") as resp:
            assert resp.status == 401
            assert (await resp.json())["detail"] == "Authorization: Bearer <METRICS_TOKEN> required"
        headers = {"Authorization": "Bearer s3cret"}
        async with http.get(f"{ops_url}/metrics", headers=headers) as resp:
            assert resp.status == 200
            assert "nf_stream_entries_total" in await resp.text()
