"""End-user JWT settings shared by every service with a user-facing API (one set of variables)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from notify_common.config import CommonConfig, ConfigError
from notify_common.jwt_auth import JwksCache, JwtSettings, read_public_key


class UserAuthConfig(CommonConfig, frozen=True, kw_only=True):
    """The JWT and browser-origin variables of the gateway, the inbox, preferences and device APIs.

    All services verify the same users' tokens, so they read the same variables.
    """

    jwt_secret: Annotated[
        str, msgspec.Meta(description="Shared secret for HS256/384/512 user tokens (at least 16 characters).")
    ] = ""
    jwt_algorithms: Annotated[
        list[str],
        msgspec.Meta(
            description="Accepted token algorithms (HS256, HS384, HS512, RS256, ES256; never none)."
        ),
    ] = msgspec.field(default_factory=lambda: ["HS256"])
    jwt_public_key_file: Annotated[
        str, msgspec.Meta(description="PEM public key file for RS256/ES256 tokens.")
    ] = ""
    jwt_jwks_url: Annotated[
        str, msgspec.Meta(description="JWKS URL for RS256/ES256 keys, chosen by the token's `kid`.")
    ] = ""
    jwt_jwks_cache_s: Annotated[
        float, msgspec.Meta(description="How long fetched JWKS keys are kept (seconds).", gt=0)
    ] = 300.0
    jwt_issuer: Annotated[str, msgspec.Meta(description="Required `iss` claim; empty = not checked.")] = ""
    jwt_audience: Annotated[str, msgspec.Meta(description="Required `aud` claim; empty = not checked.")] = ""
    jwt_leeway_s: Annotated[
        float, msgspec.Meta(description="Clock skew allowed on exp and nbf (seconds).", ge=0, le=300)
    ] = 30.0
    allowed_origins: Annotated[
        list[str],
        msgspec.Meta(
            description="Browser origins (exact match, e.g. `https://app.example.com`) that may call the "
            "HTTP APIs cross-origin (CORS) and open the gateway's WebSocket/SSE. Empty: no cross-origin "
            "HTTP access; WebSocket from any origin."
        ),
    ] = msgspec.field(default_factory=list)

    def validate(self) -> None:
        """A key to verify with must be configured; a shared secret must not be guessable."""
        if not (self.jwt_secret or self.jwt_public_key_file or self.jwt_jwks_url):
            raise ConfigError("JWT_SECRET: required unless JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL is set")
        if self.jwt_secret and len(self.jwt_secret) < 16:
            raise ConfigError("JWT_SECRET: must be at least 16 characters")

    def jwt_settings(self) -> JwtSettings:
        """What a user token must satisfy (reads the public key file once)."""
        return JwtSettings(
            secret=self.jwt_secret,
            algorithms=tuple(self.jwt_algorithms),
            leeway_s=self.jwt_leeway_s,
            public_key=read_public_key(self.jwt_public_key_file),
            jwks_url=self.jwt_jwks_url,
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
        )

    def jwks_cache(self) -> JwksCache | None:
        """A JWKS cache when a JWKS URL is configured."""
        return JwksCache(self.jwt_jwks_url, self.jwt_jwks_cache_s) if self.jwt_jwks_url else None
