"""HTTP/2 with prior knowledge on the fake's one port, next to HTTP/1.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fcm_fake.behaviours import Behaviour
from fcm_fake.runner import FakeHandle
from fcm_testkit import access_token

SEND = "/v1/projects/fake-project/messages:send"


def h2_client(fake: FakeHandle, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=fake.base_url, http1=False, http2=True, headers={"Authorization": f"Bearer {token}"}
    )


def body(token: str) -> dict[str, object]:
    return {"message": {"token": token, "data": {"k": "v"}}}


async def test_many_sends_share_one_http2_connection(fake: FakeHandle, service_account: Path) -> None:
    token = access_token(fake, service_account)
    async with h2_client(fake, token) as client:
        answers = await asyncio.gather(*(client.post(SEND, json=body(f"t{i}")) for i in range(300)))
    assert {a.http_version for a in answers} == {"HTTP/2"}
    assert [a.status_code for a in answers] == [200] * 300
    assert all(a.json()["name"].startswith("projects/fake-project/messages/") for a in answers)
    stats = fake.state.stats()
    assert stats["http2_requests"] == stats["requests"] == 300


async def test_scripted_answers_over_http2(fake: FakeHandle, service_account: Path) -> None:
    fake.state.script.set_for("busy", Behaviour("unavailable", retry_after_s=7))
    fake.state.script.set_for("gone", Behaviour("drop"))
    fake.state.script.set_for("late", Behaviour("slow", delay_ms=100))
    token = access_token(fake, service_account)
    async with h2_client(fake, token) as client:
        busy, late, ok = await asyncio.gather(
            client.post(SEND, json=body("busy")),
            client.post(SEND, json=body("late")),
            client.post(SEND, json=body("ok")),
        )
        with pytest.raises(httpx.RemoteProtocolError):  # this stream is reset, the connection lives on
            await client.post(SEND, json=body("gone"))
        after = await client.post(SEND, json=body("ok"))
        unauthenticated = await client.post(SEND, json=body("ok"), headers={"Authorization": "Bearer nope"})
        elsewhere = await client.get("/_fake/stats")
    assert (busy.status_code, busy.headers["retry-after"]) == (503, "7")
    assert busy.json()["error"]["status"] == "UNAVAILABLE"
    assert (late.status_code, ok.status_code, after.status_code) == (200, 200, 200)
    assert unauthenticated.status_code == 401
    assert elsewhere.status_code == 404  # the control API stays on HTTP/1.1
