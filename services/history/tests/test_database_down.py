"""PostgreSQL going away is a dependency outage: the consumer backs off, the API answers 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from devstack.ports import free_port
from history.api import ApiSettings, api_app
from history.db import Database, DatabaseUnavailable
from history.db_postgres import PostgresDatabase
from history.ingest import event_handler
from notify_common.consumer import REDIS_DOWN_ERRORS, Entry
from notify_common.jwt_auth import JwtSettings
from notify_common.publish import build_event
from notify_common.schemas import encode


@pytest.fixture
async def gone() -> AsyncIterator[Database]:
    """A PostgreSQL pool whose server is not there (nothing listens on its port)."""
    pool = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/gone", min_size=0)
    try:
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


async def test_consumer_sees_a_connection_error_so_it_backs_off_and_acks_nothing(gone: Database) -> None:
    event = build_event(id="n1", type="note", audience={"kind": "users", "ids": ["alice"]})
    with pytest.raises(DatabaseUnavailable) as caught:
        await event_handler(gone)([Entry("1700000000000-0", {b"event": encode(event)})])
    assert isinstance(caught.value, REDIS_DOWN_ERRORS)


async def test_inbox_answers_503_while_the_database_is_away(gone: Database, redis: redis_async.Redis) -> None:
    settings = ApiSettings(
        jwt=JwtSettings(secret=DEV_JWT_SECRET), jwks=None, admin_token="", page_max=50, key_prefix="t"
    )
    client: TestClient[Any, Any]
    async with TestClient(TestServer(api_app(gone, redis, settings))) as client:
        resp = await client.get("/v1/inbox", headers={"Authorization": f"Bearer {dev_token('alice')}"})
        assert resp.status == 503
        assert await resp.json() == {"error": "database unavailable, retry later"}
