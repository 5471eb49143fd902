"""JWT verification shared by every service that authenticates end users (gateway, inbox API).

HS256/384/512 use a shared secret; RS256/ES256 use a PEM public key (from a file) or the keys
of a JWKS URL, fetched asynchronously and cached. The algorithm comes from an allow-list and
must match the kind of key configured for it, so a public key is never used as an HMAC secret
and `none` is never accepted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import aiohttp
import jwt
import msgspec

ALLOWED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "ES256"})
_HMAC = frozenset({"HS256", "HS384", "HS512"})
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class JwtSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a token must satisfy; built from a service's config."""

    secret: str = ""
    algorithms: tuple[str, ...] = ("HS256",)
    leeway_s: float = 30.0
    public_key: str = ""
    """PEM text of the RS256/ES256 public key (see `read_public_key`)."""
    jwks_url: str = ""
    issuer: str = ""
    """Required `iss` when not empty."""
    audience: str = ""
    """Required `aud` when not empty."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection belongs to, from the token's claims."""

    user_id: str
    roles: tuple[str, ...]
    expires_at: float | None
    topics: tuple[str, ...] = ()
    """Topics the client may join (`topics` claim; `*` = any)."""


class AuthError(Exception):
    """The token was refused; the message tells the client developer why."""


def read_public_key(path: str) -> str:
    """The PEM text of a public key file ("" for an empty path)."""
    return Path(path).read_text() if path else ""


@functools.lru_cache(maxsize=64)
def _header_alg(segment: str) -> str:
    """The `alg` of a token's header segment: every token of one issuer has the same header, so
    it is parsed once (the signature and claims of every token are still verified)."""
    return str(jwt.get_unverified_header(segment + "..").get("alg", ""))


def _header_algorithm(token: str, settings: JwtSettings) -> str:
    try:
        alg = _header_alg(token.partition(".")[0])
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    allowed = [a for a in settings.algorithms if a in ALLOWED_ALGORITHMS]
    if alg not in allowed:
        raise AuthError(f"invalid token: algorithm {alg!r} is not allowed (allowed: {', '.join(allowed)})")
    return alg


def _static_key(alg: str, settings: JwtSettings) -> Any:
    if alg in _HMAC:
        if not settings.secret:
            raise AuthError(f"invalid token: no secret configured for {alg}")
        return settings.secret
    if not settings.public_key:
        raise AuthError(f"invalid token: no public key configured for {alg}")
    return settings.public_key


@functools.lru_cache(maxsize=8)
def _hmac_key(secret: str, alg: str) -> hmac.HMAC:
    """The keyed HMAC state, built once per secret (copied for each token)."""
    return hmac.new(secret.encode(), digestmod=_HMAC_HASHES[alg])


def _verify_hmac(token: str, alg: str, secret: str) -> None:
    """The HS256/384/512 signature, checked without PyJWT's per-call key preparation (its PEM
    and SSH look-alike checks cost most of a verify): a reconnect storm verifies thousands a
    second. Constant-time comparison, as PyJWT's."""
    signing_input, _, signature = token.rpartition(".")
    try:
        given = jwt.utils.base64url_decode(signature)
    except (binascii.Error, ValueError):
        raise AuthError("invalid token: Invalid crypto padding") from None
    mac = _hmac_key(secret, alg).copy()
    mac.update(signing_input.encode())
    if not hmac.compare_digest(mac.digest(), given):
        raise AuthError("invalid token: Signature verification failed")


_PLAIN_HEADER_KEYS = frozenset({"alg", "typ"})


@functools.lru_cache(maxsize=64)
def _plain_header(segment: str) -> bool:
    """Whether a header segment holds nothing but `alg` and `typ` (no `crit`, `b64`, `kid`…)."""
    header = jwt.get_unverified_header(segment + "..")
    return header.keys() <= _PLAIN_HEADER_KEYS


def _b64url_json(segment: str) -> Any:
    """A canonical base64url segment's JSON, or None (PyJWT then decides, with its own error)."""
    raw = segment.encode()
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(data).rstrip(b"=") != raw:
        return None  # junk PyJWT refuses: let it say so
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain_claims(token: str, settings: JwtSettings) -> dict[str, Any] | None:
    """The claims of a token whose signature was checked, when they pass every check PyJWT would
    make plainly (string `sub`; integer `exp` in the future, `iat`/`nbf` not in it; string `jti`;
    no issuer or audience configured); None for anything else, which PyJWT then judges with its
    own messages. PyJWT's decode costs ~35 µs a token, most of it generic checks, and a
    reconnect storm verifies thousands a second."""
    if settings.issuer or settings.audience:
        return None
    header, _, rest = token.partition(".")
    if not _plain_header(header):
        return None
    claims = _b64url_json(rest.partition(".")[0])
    if not isinstance(claims, dict):
        return None
    now = time.time()
    leeway = settings.leeway_s
    exp, iat, nbf = claims.get("exp"), claims.get("iat", 0), claims.get("nbf", 0)
    if not (_is_int(exp) and _is_int(iat) and _is_int(nbf) and isinstance(claims.get("sub"), str)):
        return None
    if exp <= now - leeway or iat > now + leeway or nbf > now + leeway:
        return None
    if not isinstance(claims.get("jti", ""), str):
        return None
    return claims


def _verify_static(token: str, alg: str, settings: JwtSettings) -> Principal:
    key = _static_key(alg, settings)
    if alg in _HMAC:
        _verify_hmac(token, alg, key)
        claims = _plain_claims(token, settings)
        if claims is not None:
            return _principal(claims)
        return _decode(token, key, alg, settings, signature_checked=True)
    return _decode(token, key, alg, settings)


def _decode(
    token: str, key: Any, alg: str, settings: JwtSettings, *, signature_checked: bool = False
) -> Principal:
    options: dict[str, Any] = {"require": ["sub", "exp"], "verify_aud": bool(settings.audience)}
    if signature_checked:
        # PyJWT turns every claim check off with the signature check unless told otherwise.
        options |= {"verify_signature": False, "verify_exp": True, "verify_nbf": True}
        options |= {"verify_iat": True, "verify_iss": True, "verify_sub": True, "verify_jti": True}
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            leeway=settings.leeway_s,
            issuer=settings.issuer or None,
            audience=settings.audience or None,
            options=options,  # type: ignore[arg-type]
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthError("token not valid yet (nbf)") from None
    except jwt.InvalidAudienceError:
        raise AuthError(f"invalid token: audience must be {settings.audience!r}") from None
    except jwt.InvalidIssuerError:
        raise AuthError(f"invalid token: issuer must be {settings.issuer!r}") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    return Principal(
        str(claims["sub"]),
        _names(claims.get("roles", []), "roles"),
        float(claims["exp"]),
        _names(claims.get("topics", []), "topics"),
    )


def _names(value: Any, claim: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthError(f"invalid token: `{claim}` must be a list of strings")
    return tuple(value)


def verify_token(token: str, settings: JwtSettings) -> Principal:
    """Check algorithm allow-list, signature (secret or public key), exp, nbf, iss, aud."""
    alg = _header_algorithm(token, settings)
    return _verify_static(token, alg, settings)


class JwksCache:
    """The keys of a JWKS URL, fetched without blocking and kept for `ttl_s`.

    An unknown `kid` triggers one refetch (keys rotate), at most every `min_refresh_s`, so a
    flood of forged kids cannot hammer the identity provider.
    """

    def __init__(self, url: str, ttl_s: float = 300.0, min_refresh_s: float = 10.0) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id `kid`; raise AuthError if the JWKS does not have it."""
        age = time.monotonic() - self._fetched_at
        if age > self.ttl_s or (kid not in self._keys and age > self.min_refresh_s):
            async with self._lock:
                if time.monotonic() - self._fetched_at > min(self.ttl_s, self.min_refresh_s):
                    await self._fetch()
        found = self._keys.get(kid)
        if found is None:
            raise AuthError(f"invalid token: unknown key id {kid!r}")
        return found

    async def _fetch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.url) as resp:
                resp.raise_for_status()
                body = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not self._keys:
                raise AuthError(f"cannot verify token: key set unavailable ({type(exc).__name__})") from None
            # Keep serving the keys we have; try again after min_refresh_s.
            self._fetched_at = time.monotonic() - max(0.0, self.ttl_s - self.min_refresh_s)
            return
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in jwt.PyJWKSet.from_json(body).keys:
            if jwk.key_id:
                keys[jwk.key_id] = jwk
        self._keys = keys
        self._fetched_at = time.monotonic()


async def verify_token_async(token: str, settings: JwtSettings, jwks: JwksCache | None = None) -> Principal:
    """`verify_token`, taking RS256/ES256 keys from `jwks` when a JWKS URL is configured."""
    alg = _header_algorithm(token, settings)
    if jwks is None or alg in _HMAC or settings.public_key:
        return _verify_static(token, alg, settings)
    kid = str(jwt.get_unverified_header(token).get("kid", ""))
    jwk = await jwks.key(kid)
    return _decode(token, jwk.key, alg, settings)
