"""State of one gateway node, shared by the modules that serve its connections."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis_async
from notify_common.jwt_auth import JwksCache, JwtSettings
from notify_common.keys import Keys
from redis.asyncio.client import PubSub

from gateway.config import GatewayConfig
from gateway.pings import PingWheel
from gateway.sockets import LocalSockets


@dataclass
class Node:
    """Config, Redis, the local connection index and what shutdown must wait for."""

    cfg: GatewayConfig
    client: redis_async.Redis
    keys: Keys
    jwt: JwtSettings
    jwks: JwksCache | None
    pubsub: PubSub
    pings: PingWheel
    sockets: LocalSockets = field(default_factory=LocalSockets)
    close_tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    draining: bool = False
    """Set on SIGTERM: refuse new connections, skip per-connection presence writes."""
    resyncing: bool = False
    """From a heartbeat finding this node's presence gone until it is announced again and the
    clients got what they missed (resync.py); /readyz fails meanwhile."""
    presence_lost: bool = False
    """Set while Redis has lost this node's presence and it is not yet announced again
    (resync.py): per-connection presence writes wait for the re-announce; /readyz fails."""

    @classmethod
    def create(cls, cfg: GatewayConfig, client: redis_async.Redis) -> Node:
        jwks = cfg.jwks_cache()
        return cls(
            cfg=cfg,
            client=client,
            keys=Keys(cfg.key_prefix),
            jwt=cfg.jwt_settings(),
            jwks=jwks,
            pubsub=client.pubsub(ignore_subscribe_messages=True),
            pings=PingWheel(cfg.ping_interval_s),
        )
