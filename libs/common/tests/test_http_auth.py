"""The shared bearer-token helpers every HTTP API of the fleet uses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from notify_common.http_auth import (
    PRINCIPAL,
    bearer_token,
    json_error,
    json_response,
    require_token,
    token_matches,
    user_jwt,
)
from notify_common.jwt_auth import JwtSettings

TOKEN = "the-right-token-0123"
USER_SECRET = "user-secret-0123456789abcdef-0123456789"


@pytest.fixture
async def api() -> AsyncIterator[TestClient[Any, Any]]:
    async def guarded(request: web.Request) -> web.Response:
        require_token(request, [TOKEN, "second-token"], "service token")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", guarded)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    assert bearer_token({"Authorization": f"{scheme} abc"}) == "abc"


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer   ", "abc"])
def test_no_bearer_token_is_the_empty_string(header: str) -> None:
    assert bearer_token({"Authorization": header}) == ""


def test_empty_token_never_matches() -> None:
    assert not token_matches("", [""])
    assert token_matches("b", ["a", "b"])


async def test_missing_token_is_a_401_naming_what_to_send(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert await resp.json() == {
        "error": "unauthorized",
        "detail": "Authorization: Bearer <service token> required",
    }


async def test_wrong_token_is_a_401_that_never_echoes_it(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/", headers={"Authorization": "Bearer wrong-token-xyz"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["error"] == "unauthorized" and "service token" in body["detail"]
    assert "wrong-token-xyz" not in await resp.text()


async def test_any_configured_token_is_accepted_in_any_scheme_case(api: TestClient[Any, Any]) -> None:
    assert (await api.get("/", headers={"Authorization": "bearer second-token"})).status == 200


@pytest.fixture
async def user_api() -> AsyncIterator[TestClient[Any, Any]]:
    async def whoami(request: web.Request) -> web.Response:
        return json_response({"user": request[PRINCIPAL].user_id})

    async def public(_: web.Request) -> web.Response:
        raise json_error(404, "nothing here", hint="try /me")

    settings = JwtSettings(secret=USER_SECRET)
    app = web.Application(middlewares=[user_jwt(settings, None, public_paths=["/public"])])
    app.router.add_get("/me", whoami)
    app.router.add_get("/public", public)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_user_jwt_middleware_lets_a_valid_token_through_in_any_scheme_case(
    user_api: TestClient[Any, Any], scheme: str
) -> None:
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, USER_SECRET, algorithm="HS256")
    resp = await user_api.get("/me", headers={"Authorization": f"{scheme} {token}"})
    assert resp.status == 200
    assert await resp.json() == {"user": "alice"}


async def test_the_user_jwt_middleware_refuses_a_missing_or_bad_token_with_the_reason(
    user_api: TestClient[Any, Any],
) -> None:
    missing = await user_api.get("/me")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert (await missing.json())["detail"] == "Authorization: Bearer <user JWT> required"
    bad = await user_api.get("/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status == 401 and (await bad.json())["error"] == "unauthorized"


async def test_public_paths_need_no_token_and_json_errors_carry_their_extra_fields(
    user_api: TestClient[Any, Any],
) -> None:
    resp = await user_api.get("/public")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": "nothing here", "hint": "try /me"}
