"""JWT attacks on both user-facing endpoints (gateway WebSocket, inbox API): every forged,
confused, stale or misdirected token is refused, and a valid token for one user never reads
another user's inbox. The services accept HS256 (shared secret) and RS256 (public key) with a
required audience, the configuration in which algorithm confusion is possible at all."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from devstack.fleet import DEV_JWT_SECRET, Fleet
from devstack.redis_server import RedisServer
from notify_common.keys import Keys

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

AUDIENCE = "notify-clients"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SERVER_KEY = _private_key()
ATTACKER_KEY = _private_key()
SERVER_PUBLIC_PEM = SERVER_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


@pytest.fixture(scope="module")
def fleet(aof_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir: Path = tmp_path_factory.mktemp("jwt")
    key_file = workdir / "jwt-public.pem"
    key_file.write_bytes(SERVER_PUBLIC_PEM)
    env = {
        "LOG_FORMAT": "json",
        "JWT_PUBLIC_KEY_FILE": str(key_file),
        "JWT_ALGORITHMS": '["HS256", "RS256"]',
        "JWT_AUDIENCE": AUDIENCE,
    }
    running = Fleet(aof_redis.url, workdir, gateways=1, extra_env=env).start(60.0)
    try:
        yield running
    finally:
        running.stop()


def claims(user: str = "42", **overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": user, "roles": [], "iat": now, "exp": now + 600, "aud": AUDIENCE}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, object], secret: str | bytes = DEV_JWT_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none() -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims()).encode())}."


def hs_signed_with_the_public_key() -> str:
    """Algorithm confusion: an HS256 token whose HMAC secret is the server's RSA public key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims()).encode())
    signature = hmac.new(SERVER_PUBLIC_PEM, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def tampered_subject() -> str:
    """A valid token of user 42 with its payload swapped for user 7's, signature kept."""
    header, _, signature = hs256(claims("42")).split(".")
    return f"{header}.{_b64(json.dumps(claims('7')).encode())}.{signature}"


ATTACKS: dict[str, Callable[[], str]] = {
    "alg-none": alg_none,
    "hs256-signed-with-rsa-public-key": hs_signed_with_the_public_key,
    "rs256-signed-by-another-key": lambda: jwt.encode(claims(), ATTACKER_KEY, algorithm="RS256"),
    "expired": lambda: hs256(claims(exp=int(time.time()) - 3600)),
    "not-yet-valid": lambda: hs256(claims(nbf=int(time.time()) + 3600)),
    "wrong-audience": lambda: hs256(claims(aud="another-service")),
    "no-audience": lambda: hs256(claims(aud=None)),
    "forged-signature": lambda: hs256(claims(), "not-the-secret-but-long-enough-0123"),
    "tampered-subject": tampered_subject,
    "no-expiry": lambda: hs256(claims(exp=None)),
    "garbage": lambda: "not.a.jwt",
}
VALID: dict[str, Callable[[], str]] = {
    "hs256": lambda: hs256(claims()),
    "rs256": lambda: jwt.encode(claims(), SERVER_KEY, algorithm="RS256"),
}


async def websocket_answer(fleet: Fleet, token: str) -> tuple[str, object]:
    """("hello", user) when accepted, ("close", code) when refused."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(fleet.gateway_url(), headers={"Authorization": f"Bearer {token}"}) as ws,
    ):
        msg = await asyncio.wait_for(ws.receive(), 10)
    if msg.type == aiohttp.WSMsgType.TEXT:
        return "hello", json.loads(msg.data).get("user_id")
    return "close", msg.data


async def inbox_status(fleet: Fleet, token: str, path: str = "/v1/inbox", method: str = "GET") -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, fleet.inbox_url() + path, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_websocket_refuses_attack_token_with_4401(fleet: Fleet, attack: str) -> None:
    assert await websocket_answer(fleet, ATTACKS[attack]()) == ("close", 4401)


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_inbox_api_refuses_attack_token_with_401(fleet: Fleet, attack: str) -> None:
    assert await inbox_status(fleet, ATTACKS[attack]()) == 401


@pytest.mark.parametrize("kind", list(VALID))
async def test_valid_tokens_are_accepted_by_both_endpoints(fleet: Fleet, kind: str) -> None:
    assert await websocket_answer(fleet, VALID[kind]()) == ("hello", "42")
    assert await inbox_status(fleet, VALID[kind]()) == 200


async def test_a_token_for_another_user_never_reads_or_marks_the_victims_inbox(fleet: Fleet) -> None:
    nid = f"secret-{uuid.uuid4().hex[:8]}"
    event = {
        "id": nid,
        "type": "secret",
        "title": "for the victim",
        "audience": {"kind": "users", "ids": ["victim"]},
    }
    client = redis.Redis.from_url(fleet.redis_url)
    client.xadd(Keys(fleet.key_prefix).ingress, {b"event": json.dumps(event).encode()})
    client.close()
    victim, attacker = hs256(claims("victim")), hs256(claims("attacker"))
    async with aiohttp.ClientSession() as http:

        async def inbox_ids(token: str) -> list[str]:
            async with http.get(
                fleet.inbox_url() + "/v1/inbox", headers={"Authorization": f"Bearer {token}"}
            ) as r:
                assert r.status == 200
                return [item["id"] for item in (await r.json())["items"]]

        deadline = time.monotonic() + 30
        while nid not in await inbox_ids(victim):
            assert time.monotonic() < deadline, "the victim's notification never reached history"
            await asyncio.sleep(0.2)
        assert nid not in await inbox_ids(attacker)
    assert await inbox_status(fleet, attacker, f"/v1/inbox/{nid}/read", "POST") == 404
    assert await inbox_status(fleet, victim, f"/v1/inbox/{nid}/read", "POST") == 200
