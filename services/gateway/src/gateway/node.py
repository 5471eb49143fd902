"""State of one gateway node, shared by the modules that serve its connections."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis_async
from notify_common.jwt_auth import JwksCache, JwtSettings, read_public_key
from notify_common.keys import Keys
from redis.asyncio.client import PubSub

from gateway.config import GatewayConfig
from gateway.sockets import LocalSockets


def jwt_settings(cfg: GatewayConfig) -> JwtSettings:
    return JwtSettings(
        secret=cfg.jwt_secret,
        algorithms=tuple(cfg.jwt_algorithms),
        leeway_s=cfg.jwt_leeway_s,
        public_key=read_public_key(cfg.jwt_public_key_file),
        jwks_url=cfg.jwt_jwks_url,
        issuer=cfg.jwt_issuer,
        audience=cfg.jwt_audience,
    )


@dataclass
class Node:
    """Config, Redis, the local connection index and what shutdown must wait for."""

    cfg: GatewayConfig
    client: redis_async.Redis
    keys: Keys
    jwt: JwtSettings
    jwks: JwksCache | None
    pubsub: PubSub
    sockets: LocalSockets = field(default_factory=LocalSockets)
    close_tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    draining: bool = False
    """Set on SIGTERM: refuse new connections, skip per-connection presence writes."""

    @classmethod
    def create(cls, cfg: GatewayConfig, client: redis_async.Redis) -> Node:
        jwks = JwksCache(cfg.jwt_jwks_url, cfg.jwt_jwks_cache_s) if cfg.jwt_jwks_url else None
        return cls(
            cfg=cfg,
            client=client,
            keys=Keys(cfg.key_prefix),
            jwt=jwt_settings(cfg),
            jwks=jwks,
            pubsub=client.pubsub(ignore_subscribe_messages=True),
        )
