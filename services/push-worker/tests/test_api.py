from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from notify_common.config import load_config
from notify_common.keys import Keys
from push_worker.api import api_app
from push_worker.config import PushConfig


@pytest.fixture
async def http(redis: redis_async.Redis, keys: Keys) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    cfg = load_config(PushConfig, {"JWT_SECRET": DEV_JWT_SECRET, "KEY_PREFIX": keys.prefix})
    async with TestClient(TestServer(api_app(redis, keys, cfg))) as client:
        yield client


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(user_id)}"}


async def test_user_registers_and_lists_own_devices(http: TestClient) -> None:  # type: ignore[type-arg]
    created = await http.post("/v1/devices", json={"token": "tok-1", "platform": "ios"}, headers=auth("42"))
    assert created.status == 201
    body = await created.json()
    assert (body["token"], body["platform"]) == ("tok-1", "ios")
    listed = await (await http.get("/v1/devices", headers=auth("42"))).json()
    assert [d["token"] for d in listed["devices"]] == ["tok-1"]
    other = await (await http.get("/v1/devices", headers=auth("7"))).json()
    assert other == {"devices": []}


async def test_user_removes_a_device(http: TestClient) -> None:  # type: ignore[type-arg]
    await http.post("/v1/devices", json={"token": "tok-1", "platform": "android"}, headers=auth("42"))
    assert (await http.delete("/v1/devices/tok-1", headers=auth("7"))).status == 404
    assert (await http.delete("/v1/devices/tok-1", headers=auth("42"))).status == 204
    assert (await http.delete("/v1/devices/tok-1", headers=auth("42"))).status == 404


async def test_request_without_token_is_refused(http: TestClient) -> None:  # type: ignore[type-arg]
    response = await http.get("/v1/devices")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await response.json() == {
        "error": "unauthorized",
        "detail": "Authorization: Bearer <user JWT> required",
    }


async def test_expired_token_is_refused(http: TestClient) -> None:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {dev_token('42', ttl_s=-120)}"}
    response = await http.get("/v1/devices", headers=headers)
    assert (response.status, await response.json()) == (
        401,
        {"error": "unauthorized", "detail": "token expired"},
    )


async def test_bad_platform_gets_a_clear_400(http: TestClient) -> None:  # type: ignore[type-arg]
    response = await http.post("/v1/devices", json={"token": "t", "platform": "fax"}, headers=auth("42"))
    assert response.status == 400
    assert "platform must be one of android, ios, web" in (await response.json())["error"]


async def test_malformed_body_gets_a_clear_400(http: TestClient) -> None:  # type: ignore[type-arg]
    response = await http.post("/v1/devices", data=b"{", headers=auth("42"))
    assert response.status == 400
    assert (await response.json())["error"].startswith("invalid body:")


async def test_openapi_is_served_without_a_token_and_describes_every_route(http: TestClient) -> None:  # type: ignore[type-arg]
    resp = await http.get("/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in http.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert described == routes
    assert "Registration" in doc["components"]["schemas"]
