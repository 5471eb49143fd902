"""The router's HTTP API: publishing with service tokens, preferences with user JWTs, OpenAPI."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import msgspec
import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from notify_common.jwt_auth import JwtSettings
from notify_common.keys import Keys
from notify_common.schemas import BadEntry, decode_event
from prometheus_client import REGISTRY
from router.http_api import ApiSettings, api_app

TOKEN = "service-token-for-tests-0001"
SECRET = "jwt-secret-for-router-tests-0123456789"
EVENT = {"id": "http-1", "type": "order.shipped", "audience": {"kind": "users", "ids": ["42"]}}


def settings(**overrides: Any) -> ApiSettings:
    base: dict[str, Any] = {
        "service_tokens": (TOKEN, "another-token"),
        "jwt": JwtSettings(secret=SECRET),
        "jwks": None,
        "batch_max": 3,
        "max_body_bytes": 64 * 1024,
    }
    return ApiSettings(**{**base, **overrides})


@pytest.fixture
async def api(redis: redis_async.Redis, keys: Keys) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(api_app(redis, keys, settings()))) as client:
        yield client


def service() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def user(user_id: str) -> dict[str, str]:
    token = jwt.encode({"sub": user_id, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


async def test_publish_appends_to_ingress_and_answers_with_the_id(
    api: TestClient[Any, Any], redis: redis_async.Redis, keys: Keys
) -> None:
    resp = await api.post("/v1/events", json=EVENT, headers=service())
    assert resp.status == 202
    body = await resp.json()
    ((entry_id, fields),) = await redis.xrange(keys.ingress)
    assert body == {"id": "http-1", "entry_id": entry_id.decode()}
    assert decode_event(fields).id == "http-1"


async def test_publish_without_id_answers_with_the_generated_id(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/v1/events", json={**EVENT, "id": None}, headers=service())
    body = await resp.json()
    assert body["id"] == f"evt-{body['entry_id']}"


async def test_bad_event_is_a_400_with_the_stream_contract_reason(
    api: TestClient[Any, Any], redis: redis_async.Redis, keys: Keys
) -> None:
    bad = {**EVENT, "type": 5}
    resp = await api.post("/v1/events", json=bad, headers=service())
    assert resp.status == 400
    with pytest.raises(BadEntry) as stream_reason:
        decode_event({b"event": msgspec.json.encode(bad)})
    assert (await resp.json())["error"] == str(stream_reason.value)
    assert await redis.xlen(keys.ingress) == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "t", "audience": {"kind": "planet"}}'])
async def test_malformed_bodies_are_400_never_500(api: TestClient[Any, Any], body: bytes) -> None:
    resp = await api.post("/v1/events", data=body, headers=service())
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("invalid event")


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_publish_without_a_valid_service_token_is_401(
    api: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    resp = await api.post("/v1/events", json=EVENT, headers=headers)
    assert resp.status == 401


async def test_publish_401_says_which_token_is_expected_without_echoing_the_given_one(
    api: TestClient[Any, Any],
) -> None:
    resp = await api.post("/v1/events", json=EVENT, headers={"Authorization": "Bearer wrong-secret-42"})
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["error"] == "unauthorized"
    assert "Authorization: Bearer <service token>" in body["detail"]
    assert "wrong-secret-42" not in await resp.text()


async def test_publish_401_without_a_token_names_the_header_to_send(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/v1/events", json=EVENT)
    assert await resp.json() == {
        "error": "unauthorized",
        "detail": "Authorization: Bearer <service token> required",
    }


async def test_service_token_scheme_is_case_insensitive(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/v1/events", json=EVENT, headers={"Authorization": f"bearer {TOKEN}"})
    assert resp.status == 202


async def test_publishing_is_refused_when_no_tokens_are_configured(
    redis: redis_async.Redis, keys: Keys
) -> None:
    async with TestClient(TestServer(api_app(redis, keys, settings(service_tokens=())))) as client:
        resp = await client.post("/v1/events", json=EVENT, headers={"Authorization": "Bearer "})
        assert resp.status == 401
        assert "set SERVICE_TOKENS" in (await resp.json())["detail"]


async def test_batch_publishes_all_in_order(
    api: TestClient[Any, Any], redis: redis_async.Redis, keys: Keys
) -> None:
    events = [{**EVENT, "id": f"b{i}"} for i in range(3)]
    resp = await api.post("/v1/events/batch", json={"events": events}, headers=service())
    assert resp.status == 202
    results = (await resp.json())["results"]
    assert [r["id"] for r in results] == ["b0", "b1", "b2"]
    assert [e.decode() for e, _ in await redis.xrange(keys.ingress)] == [r["entry_id"] for r in results]


async def test_batch_with_one_bad_event_publishes_nothing_and_names_it(
    api: TestClient[Any, Any], redis: redis_async.Redis, keys: Keys
) -> None:
    events = [EVENT, {**EVENT, "priority": "urgent"}]
    resp = await api.post("/v1/events/batch", json={"events": events}, headers=service())
    assert resp.status == 400
    body = await resp.json()
    assert [e["index"] for e in body["errors"]] == [1]
    assert "$.priority" in body["errors"][0]["error"]
    assert await redis.xlen(keys.ingress) == 0


async def test_batch_over_the_maximum_is_400(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/v1/events/batch", json={"events": [EVENT] * 4}, headers=service())
    assert resp.status == 400
    assert "1 to 3 events" in (await resp.json())["error"]


async def test_body_over_the_limit_is_413(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/v1/events", data=b" " * 70_000, headers=service())
    assert resp.status == 413


async def test_redis_down_is_503(keys: Keys) -> None:
    dead = redis_async.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    async with TestClient(TestServer(api_app(dead, keys, settings()))) as client:
        resp = await client.post("/v1/events", json=EVENT, headers=service())
        assert resp.status == 503
    await dead.aclose()


async def test_user_sets_and_reads_their_preferences(api: TestClient[Any, Any]) -> None:
    prefs = {"muted_categories": ["promo"], "muted_channels": ["push"]}
    resp = await api.put("/v1/preferences", json=prefs, headers=user("u7"))
    assert (resp.status, await resp.json()) == (200, prefs)
    resp = await api.get("/v1/preferences", headers=user("u7"))
    assert await resp.json() == prefs
    resp = await api.get("/v1/preferences", headers=user("someone-else"))
    assert await resp.json() == {"muted_categories": [], "muted_channels": []}


async def test_bad_preferences_are_400(api: TestClient[Any, Any]) -> None:
    resp = await api.put("/v1/preferences", json={"muted_channels": ["sms"]}, headers=user("u7"))
    assert resp.status == 400
    assert "$.muted_channels" in (await resp.json())["error"]


async def test_preferences_need_a_valid_user_token(api: TestClient[Any, Any]) -> None:
    assert (await api.get("/v1/preferences")).status == 401
    assert (await api.get("/v1/preferences", headers=service())).status == 401
    expired = jwt.encode({"sub": "u", "exp": int(time.time()) - 600}, SECRET, algorithm="HS256")
    resp = await api.get("/v1/preferences", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert await resp.json() == {"error": "unauthorized", "detail": "token expired"}


async def test_openapi_document_describes_every_route_and_the_event_schema(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {r.resource.canonical for r in api.app.router.routes()}  # type: ignore[union-attr]
    event = doc["components"]["schemas"]["Event"]
    assert set(event["required"]) == {"type", "audience"}
    assert doc["paths"]["/v1/events"]["post"]["security"] == [{"serviceToken": []}]


def request_count(route: str) -> float:
    return REGISTRY.get_sample_value("nf_router_http_request_seconds_count", {"route": route}) or 0.0


async def test_request_time_is_observed_per_route_for_refusals_too(api: TestClient[Any, Any]) -> None:
    before = request_count("/v1/events"), request_count("unmatched")
    assert (await api.post("/v1/events", json=EVENT, headers=service())).status == 202
    assert (await api.post("/v1/events", json=EVENT)).status == 401
    assert (await api.get("/v1/nowhere")).status == 404
    assert request_count("/v1/events") == before[0] + 2
    assert request_count("unmatched") == before[1] + 1


async def test_publish_with_a_wrong_service_token_counts_as_rejected_unauthorized(
    api: TestClient[Any, Any],
) -> None:
    def rejected() -> float:
        return REGISTRY.get_sample_value("nf_router_http_rejected_total", {"reason": "unauthorized"}) or 0.0

    before = rejected()
    resp = await api.post("/v1/events", json=EVENT, headers={"Authorization": "Bearer rotated-away"})
    assert resp.status == 401
    assert rejected() == before + 1


async def test_sharded_publish_appends_each_event_to_its_recipients_shard(
    redis: redis_async.Redis, keys: Keys
) -> None:
    sharded = Keys(keys.prefix, 4)
    users = ["u1", "u2", "alice", "bob"]  # shards 2, 0, 3, 0
    events = [
        {"id": f"s{i}", "type": "t", "audience": {"kind": "users", "ids": [u]}} for i, u in enumerate(users)
    ]
    async with TestClient(TestServer(api_app(redis, sharded, settings(batch_max=10)))) as client:
        one = await client.post("/v1/events", json=events[0], headers=service())
        assert one.status == 202
        batch = await client.post("/v1/events/batch", json={"events": events[1:]}, headers=service())
        assert batch.status == 202
        results = [await one.json(), *(await batch.json())["results"]]
    assert [r["id"] for r in results] == ["s0", "s1", "s2", "s3"]
    for user, result in zip(users, results, strict=True):
        rows = await redis.xrange(sharded.ingress_for(user), result["entry_id"], result["entry_id"])
        assert [decode_event(fields).id for _, fields in rows] == [result["id"]]
    assert {sharded.ingress_for(u) for u in users} == {sharded.ingress_shards[i] for i in (0, 2, 3)}
