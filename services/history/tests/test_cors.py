"""CORS on the inbox API: an allowed page reads and marks its inbox; other origins get nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from history.api import ApiSettings, api_app
from history.db import Database
from notify_common.jwt_auth import JwtSettings
from notify_common.keys import Keys

PAGE = "http://127.0.0.1:8070"


@pytest.fixture
async def http(db: Database, redis: redis_async.Redis, keys: Keys) -> AsyncIterator[TestClient[Any, Any]]:
    settings = ApiSettings(
        jwt=JwtSettings(secret=DEV_JWT_SECRET),
        jwks=None,
        admin_token="",
        page_max=50,
        key_prefix=keys.prefix,
        allowed_origins=(PAGE,),
    )
    async with TestClient(TestServer(api_app(db, redis, settings))) as client:
        yield client


async def test_preflight_of_mark_read_is_answered_for_the_allowed_origin(http: TestClient[Any, Any]) -> None:
    asking = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    resp = await http.options("/v1/inbox/some-id/read", headers={"Origin": PAGE, **asking})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    resp = await http.options("/v1/inbox/read-all", headers={"Origin": "http://localhost:8070", **asking})
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_inbox_answers_carry_cors_headers_only_for_the_allowed_origin(
    http: TestClient[Any, Any],
) -> None:
    token = {"Authorization": f"Bearer {dev_token('42')}"}
    resp = await http.get("/v1/inbox/unread-count", headers={"Origin": PAGE, **token})
    assert await resp.json() == {"unread": 0}
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Origin" in resp.headers["Vary"]
    resp = await http.get("/v1/inbox/unread-count", headers={"Origin": "http://evil.example", **token})
    assert "Access-Control-Allow-Origin" not in resp.headers
