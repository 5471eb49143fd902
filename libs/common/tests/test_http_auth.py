"""The shared bearer-token helpers every HTTP API of the fleet uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from notify_common.http_auth import bearer_token, require_token, token_matches

TOKEN = "the-right-token-0123"


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
