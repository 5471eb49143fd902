"""CORS on the router: a page on an allowed origin reads and sets the user's preferences."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from notify_common.keys import Keys
from router.app import build
from router.config import RouterConfig

PAGE = "http://127.0.0.1:8070"


async def test_preferences_are_reachable_from_the_allowed_origin_only(redis_url: str, keys: Keys) -> None:
    cfg = RouterConfig(
        redis_url=redis_url, jwt_secret=DEV_JWT_SECRET, key_prefix=keys.prefix, allowed_origins=[PAGE]
    )
    async with TestClient(TestServer(build(cfg))) as api:  # the service's application, without its workers
        asking = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}
        resp = await api.options("/v1/preferences", headers={"Origin": PAGE, **asking})
        assert resp.status == 204
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
        token = {"Authorization": f"Bearer {dev_token('7')}"}
        resp = await api.get("/v1/preferences", headers={"Origin": PAGE, **token})
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
        resp = await api.get("/v1/preferences", headers={"Origin": "http://evil.example", **token})
        assert "Access-Control-Allow-Origin" not in resp.headers
