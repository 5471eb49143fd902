"""The inbox API over HTTP: a user sees only their own inbox, admin routes need the service
token, reads reach the user's other devices as a transient `inbox.read` event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jwt
import msgspec
import pytest
import redis.asyncio as redis_async
from aiohttp.test_utils import TestClient, TestServer
from devstack.fleet import DEV_JWT_SECRET, dev_token
from history.api import ROUTES, ApiSettings, api_app
from history.db import Database
from history.ingest import rows_of
from history.writes import write_events, write_receipts
from notify_common.jwt_auth import JwtSettings
from notify_common.keys import Keys
from notify_common.publish import build_event
from notify_common.schemas import decode_event

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
T0 = 1_700_000_000_000


@pytest.fixture
async def http(db: Database, redis: redis_async.Redis, keys: Keys) -> AsyncIterator[TestClient[Any, Any]]:
    settings = ApiSettings(
        jwt=JwtSettings(secret=DEV_JWT_SECRET),
        jwks=None,
        admin_token=ADMIN_TOKEN,
        page_max=50,
        key_prefix=keys.prefix,
    )
    async with TestClient(TestServer(api_app(db, redis, settings))) as client:
        yield client


def auth(user: str, roles: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(user, roles)}"}


async def store(db: Database, notification_id: str, audience: dict[str, Any], at_ms: int = T0) -> None:
    row, recipients = rows_of(build_event(id=notification_id, type="note", audience=audience), f"{at_ms}-0")
    await write_events(db, [row], recipients)


async def test_a_user_never_sees_or_marks_another_users_notifications(
    db: Database, http: TestClient[Any, Any]
) -> None:
    await store(db, "for-alice", {"kind": "users", "ids": ["alice"]})
    await store(db, "for-bob", {"kind": "users", "ids": ["bob"]}, T0 + 1)
    resp = await http.get("/v1/inbox", headers=auth("bob"))
    assert [item["id"] for item in (await resp.json())["items"]] == ["for-bob"]
    resp = await http.post("/v1/inbox/for-alice/read", headers=auth("bob"))
    assert resp.status == 404
    resp = await http.get("/v1/inbox/unread-count", headers=auth("alice"))
    assert await resp.json() == {"unread": 1}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {dev_token('alice', ttl_s=-120)}"},
    ],
    ids=["missing", "garbage", "expired"],
)
async def test_requests_without_a_valid_token_are_refused(
    http: TestClient[Any, Any], headers: dict[str, str]
) -> None:
    resp = await http.get("/v1/inbox", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["error"] == "unauthorized" and body["detail"]


async def test_token_signed_with_another_secret_is_refused(http: TestClient[Any, Any]) -> None:
    forged = dev_token("alice", secret="someone-elses-secret-0123456789-abcdef")
    resp = await http.get("/v1/inbox", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status == 401


async def test_page_carries_a_cursor_that_continues_the_list(
    db: Database, http: TestClient[Any, Any]
) -> None:
    for i in range(5):
        await store(db, f"n{i}", {"kind": "users", "ids": ["alice"]}, T0 + i)
    first = await (await http.get("/v1/inbox?limit=3", headers=auth("alice"))).json()
    rest = await (
        await http.get(f"/v1/inbox?limit=3&cursor={first['next_cursor']}", headers=auth("alice"))
    ).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == ["n4", "n3", "n2", "n1", "n0"]
    assert rest["next_cursor"] is None


async def test_bad_parameters_get_a_clear_400(http: TestClient[Any, Any]) -> None:
    for query in ("limit=0", "limit=abc", "cursor=zzz", "unread=maybe"):
        resp = await http.get(f"/v1/inbox?{query}", headers=auth("alice"))
        assert resp.status == 400, query
        assert (await resp.json())["error"]


async def test_topic_broadcasts_need_the_topic_in_the_token(db: Database, http: TestClient[Any, Any]) -> None:
    await store(db, "t1", {"kind": "topic", "topic": "match-7"})
    resp = await http.get("/v1/inbox?topic=match-7", headers=auth("alice"))
    assert resp.status == 403
    token = dev_token("alice")
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"]) | {"topics": ["match-7"]}
    allowed = {"Authorization": f"Bearer {jwt.encode(claims, DEV_JWT_SECRET, algorithm='HS256')}"}
    resp = await http.get("/v1/inbox", headers=allowed)
    assert [item["id"] for item in (await resp.json())["items"]] == ["t1"]


async def test_mark_read_tells_the_users_other_devices_through_ingress(
    db: Database, http: TestClient[Any, Any], redis: redis_async.Redis, keys: Keys
) -> None:
    await store(db, "n1", {"kind": "users", "ids": ["alice"]})
    resp = await http.post("/v1/inbox/n1/read", headers=auth("alice"))
    assert await resp.json() == {"id": "n1", "changed": True}
    resp = await http.post("/v1/inbox/read-all", headers=auth("alice"))
    assert (await resp.json())["marked"] == 0
    events = [decode_event(fields) for _, fields in await redis.xrange(keys.ingress)]
    assert [(e.type, e.transient, e.audience.ids) for e in events] == [  # type: ignore[union-attr]
        ("inbox.read", True, ["alice"]),
        ("inbox.read", True, ["alice"]),
    ]
    assert events[0].data["ids"] == ["n1"]
    assert events[1].data["all"] is True


async def test_admin_routes_need_the_service_token(db: Database, http: TestClient[Any, Any]) -> None:
    await store(db, "n1", {"kind": "users", "ids": ["alice"]})
    await write_receipts(db, [("n1", "alice", "delivered", "socket", T0 + 5, "gateway-1", "")])
    assert (await http.get("/v1/admin/notifications/n1", headers=auth("alice"))).status == 401
    assert (await http.get("/v1/admin/stats", headers=auth("alice"))).status == 401
    resp = await http.get("/v1/admin/notifications/n1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    body = await resp.json()
    assert [d["kind"] for d in body["deliveries"]] == ["delivered"]
    resp = await http.get(
        "/v1/admin/stats?from=2023-11-14&to=2023-11-14", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert [(d["day"], d["sent"], d["delivered_socket"]) for d in (await resp.json())["days"]] == [
        ("2023-11-14", 1, 1)
    ]


async def test_admin_401_names_the_admin_token(http: TestClient[Any, Any]) -> None:
    resp = await http.get("/v1/admin/stats", headers=auth("alice"))
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["error"] == "unauthorized" and "Authorization: Bearer <ADMIN_TOKEN>" in body["detail"]


async def test_openapi_is_served_and_describes_every_route(http: TestClient[Any, Any]) -> None:
    resp = await http.get("/openapi.json")
    spec = msgspec.json.decode(await resp.read())
    assert spec["openapi"].startswith("3.")
    described = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert described == {(method, path) for method, path, _ in ROUTES}
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for ref in _refs(op):
                assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], (path, ref)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
