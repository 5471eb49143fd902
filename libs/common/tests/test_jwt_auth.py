"""JWT verification: the auth matrix over HS256, RS256 (file), ES256 and a JWKS served over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from notify_common.jwt_auth import (
    AuthError,
    JwksCache,
    JwtSettings,
    Principal,
    _decode,
    read_public_key,
    verify_token,
    verify_token_async,
)
from notify_common.ops import start_site

SECRET = "s" * 32
HS = JwtSettings(secret=SECRET, issuer="https://id.example", audience="notify")


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "42",
        "roles": ["driver"],
        "iss": "https://id.example",
        "aud": "notify",
        "exp": now + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def public_pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_valid_hs256_token_gives_user_roles_and_topics() -> None:
    token = jwt.encode(claims(topics=["news"]), SECRET, algorithm="HS256")
    principal = verify_token(token, HS)
    assert (principal.user_id, principal.roles, principal.topics) == ("42", ("driver",), ("news",))


def test_expired_token_is_refused() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 120), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="token expired"):
        verify_token(token, HS)


def test_expiry_within_leeway_is_accepted() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    assert verify_token(token, HS).user_id == "42"


def test_token_not_yet_valid_is_refused() -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="nbf"):
        verify_token(token, HS)


def test_wrong_signature_is_refused() -> None:
    token = jwt.encode(claims(), "x" * 32, algorithm="HS256")
    with pytest.raises(AuthError, match="Signature verification failed"):
        verify_token(token, HS)


def test_payload_changed_after_signing_is_refused() -> None:
    header, _, signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")
    forged = jwt.encode(claims(sub="1", roles=["admin"]), "x" * 32, algorithm="HS256").split(".")[1]
    with pytest.raises(AuthError, match="Signature verification failed"):
        verify_token(f"{header}.{forged}.{signature}", HS)


def test_garbled_signature_is_refused() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(token[:-2] + "*", HS)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_longer_hmac_algorithms_verify_when_allowed(alg: str) -> None:
    settings = JwtSettings(secret=SECRET * 2, algorithms=(alg,), issuer=HS.issuer, audience=HS.audience)
    assert verify_token(jwt.encode(claims(), SECRET * 2, algorithm=alg), settings).user_id == "42"
    with pytest.raises(AuthError, match="Signature verification failed"):
        verify_token(jwt.encode(claims(), "y" * 64, algorithm=alg), settings)


def test_non_numeric_issued_at_is_refused() -> None:
    token = jwt.encode(claims(iat="yesterday"), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(token, HS)


def test_wrong_audience_is_refused() -> None:
    token = jwt.encode(claims(aud="billing"), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="audience must be 'notify'"):
        verify_token(token, HS)


def test_wrong_issuer_is_refused() -> None:
    token = jwt.encode(claims(iss="https://evil.example"), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="issuer must be"):
        verify_token(token, HS)


def test_algorithm_none_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(AuthError, match="algorithm 'none' is not allowed"):
        verify_token(token, HS)


def test_algorithm_outside_the_allow_list_is_refused() -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")
    with pytest.raises(AuthError, match="algorithm 'HS512' is not allowed"):
        verify_token(token, HS)


def test_missing_subject_is_refused() -> None:
    token = jwt.encode(claims(sub=None), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="sub"):
        verify_token(token, HS)


PLAIN = JwtSettings(secret=SECRET)
"""No issuer or audience: valid HS256 tokens take the plain-claims path, not PyJWT's decode."""


def pyjwt_outcome(token: str) -> Principal | str:
    try:
        return _decode(token, SECRET, "HS256", PLAIN, signature_checked=True)
    except AuthError as exc:
        return str(exc)


def outcome(token: str) -> Principal | str:
    try:
        return verify_token(token, PLAIN)
    except AuthError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "over",
    [
        {},
        {"topics": ["news"], "jti": "j1", "iat": int(time.time()), "nbf": int(time.time()) - 1},
        {"exp": int(time.time()) - 5},  # within leeway
        {"exp": int(time.time()) - 120},
        {"exp": time.time() + 600.5},  # a float exp: PyJWT accepts it
        {"exp": "soon"},
        {"exp": True},
        {"nbf": int(time.time()) + 600},
        {"iat": int(time.time()) + 600},
        {"iat": "now"},
        {"sub": None},
        {"sub": 42},
        {"jti": 7},
        {"roles": "driver"},
        {"roles": [1]},
    ],
)
def test_plain_claims_path_agrees_with_pyjwt(over: dict[str, Any]) -> None:
    token = jwt.encode(claims(iss=None, aud=None, **over), SECRET, algorithm="HS256")
    assert outcome(token) == pyjwt_outcome(token)


def test_a_header_beyond_alg_and_typ_goes_through_pyjwt() -> None:
    token = jwt.encode(claims(iss=None, aud=None), SECRET, algorithm="HS256", headers={"crit": ["exp"]})
    assert outcome(token) == pyjwt_outcome(token)


def test_rs256_with_public_key_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "pub.pem"
    path.write_text(public_pem(private))
    settings = JwtSettings(algorithms=("RS256",), public_key=read_public_key(str(path)))
    token = jwt.encode(claims(aud=None, iss=None), private, algorithm="RS256")
    assert verify_token(token, settings).user_id == "42"


def test_hs256_token_signed_with_the_public_key_is_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = JwtSettings(algorithms=("RS256",), public_key=public_pem(private))
    forged = jwt.encode(claims(), "k" * 32, algorithm="HS256")
    with pytest.raises(AuthError, match="not allowed"):
        verify_token(forged, settings)


def test_es256_with_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    settings = JwtSettings(algorithms=("ES256",), public_key=public_pem(private))
    token = jwt.encode(claims(aud=None, iss=None), private, algorithm="ES256")
    assert verify_token(token, settings).roles == ("driver",)


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[str, rsa.RSAPrivateKey, list[int]]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", alg="RS256", use="sig")
    hits: list[int] = []

    async def keys(_: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/jwks.json", keys)
    runner, port = await start_site(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", private, hits
    finally:
        await runner.cleanup()


async def test_rs256_from_jwks_is_fetched_once_and_cached(
    jwks_server: tuple[str, rsa.RSAPrivateKey, list[int]],
) -> None:
    url, private, hits = jwks_server
    settings = JwtSettings(algorithms=("RS256",), jwks_url=url)
    cache = JwksCache(url)
    token = jwt.encode(claims(aud=None, iss=None), private, algorithm="RS256", headers={"kid": "k1"})
    for _ in range(3):
        assert (await verify_token_async(token, settings, cache)).user_id == "42"
    assert len(hits) == 1


async def test_unknown_key_id_is_refused(jwks_server: tuple[str, rsa.RSAPrivateKey, list[int]]) -> None:
    url, private, _ = jwks_server
    settings = JwtSettings(algorithms=("RS256",), jwks_url=url)
    token = jwt.encode(claims(aud=None, iss=None), private, algorithm="RS256", headers={"kid": "other"})
    with pytest.raises(AuthError, match="unknown key id 'other'"):
        await verify_token_async(token, settings, JwksCache(url))
