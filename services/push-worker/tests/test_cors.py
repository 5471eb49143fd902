"""CORS on the device API: a page on an allowed origin may register devices; others may not read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from notify_common.config import load_config
from notify_common.keys import Keys
from push_worker.api import api_app
from push_worker.config import PushConfig

PAGE = "http://127.0.0.1:8070"


async def client_with(redis: redis_async.Redis, keys: Keys, origins: str) -> TestClient[Any, Any]:
    env = {"JWT_SECRET": DEV_JWT_SECRET, "KEY_PREFIX": keys.prefix, "ALLOWED_ORIGINS": origins}
    client: TestClient[Any, Any] = TestClient(TestServer(api_app(redis, keys, load_config(PushConfig, env))))
    await client.start_server()
    return client


@pytest.fixture
async def http(redis: redis_async.Redis, keys: Keys) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_with(redis, keys, PAGE)
    try:
        yield client
    finally:
        await client.close()


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_preflight_from_an_allowed_origin_names_methods_and_headers(http: TestClient[Any, Any]) -> None:
    resp = await http.options("/v1/devices", headers=preflight(PAGE))
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "DELETE" in resp.headers["Access-Control-Allow-Methods"]
    allowed_headers = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_preflight_from_another_origin_is_refused_without_cors_headers(
    http: TestClient[Any, Any],
) -> None:
    resp = await http.options("/v1/devices", headers=preflight("http://evil.example"))
    assert resp.status == 403
    assert "not allowed" in (await resp.json())["error"]
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


async def test_request_from_an_allowed_origin_carries_its_origin_back(http: TestClient[Any, Any]) -> None:
    headers = {"Origin": PAGE, "Authorization": f"Bearer {dev_token('42')}"}
    resp = await http.post("/v1/devices", json={"token": "tok-cors", "platform": "web"}, headers=headers)
    assert resp.status == 201
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Origin" in resp.headers["Vary"]
    # A refused token is readable too, so the page can tell the user why.
    resp = await http.get("/v1/devices", headers={"Origin": PAGE})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE


async def test_request_from_another_origin_gets_no_cors_headers(http: TestClient[Any, Any]) -> None:
    headers = {"Origin": "https://127.0.0.1:8070", "Authorization": f"Bearer {dev_token('42')}"}
    resp = await http.get("/v1/devices", headers=headers)
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_an_empty_origin_list_allows_no_cross_origin_access(
    redis: redis_async.Redis, keys: Keys
) -> None:
    client = await client_with(redis, keys, "")
    try:
        resp = await client.options("/v1/devices", headers=preflight(PAGE))
        assert "Access-Control-Allow-Origin" not in resp.headers
        resp = await client.get(
            "/v1/devices", headers={"Origin": PAGE, "Authorization": f"Bearer {dev_token('1')}"}
        )
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers
    finally:
        await client.close()
