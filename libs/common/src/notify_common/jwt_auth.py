"""JWT verification shared by every service that authenticates end users (gateway, inbox API)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
import msgspec

ALLOWED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "ES256"})


class JwtSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What a token must satisfy; built from a service's config."""

    secret: str
    algorithms: tuple[str, ...] = ("HS256",)
    leeway_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection belongs to, from the token's claims."""

    user_id: str
    roles: tuple[str, ...]
    expires_at: float | None


class AuthError(Exception):
    """The token was refused; the message tells the client developer why."""


def verify_token(token: str, settings: JwtSettings) -> Principal:
    """Check signature, algorithm allow-list (never `none`), exp and nbf; return the principal."""
    algorithms = [a for a in settings.algorithms if a in ALLOWED_ALGORITHMS]
    try:
        claims = jwt.decode(
            token,
            settings.secret,
            algorithms=algorithms,
            leeway=settings.leeway_s,
            options={"require": ["sub", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("invalid token: `roles` must be a list of strings")
    return Principal(str(claims["sub"]), tuple(roles), float(claims["exp"]))
