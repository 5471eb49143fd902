"""State of one gateway node, shared by the modules that serve its connections."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis_async
from notify_common.clock import now_ms
from notify_common.jwt_auth import JwksCache, JwtSettings
from notify_common.keys import Keys
from redis.asyncio.client import PubSub

from gateway.catchup import FeedReads
from gateway.config import GatewayConfig
from gateway.pings import PingWheel
from gateway.presence_writer import PresenceWrites
from gateway.sockets import LocalSockets
from gateway.ws_protocol import WebSocket


@dataclass
class Node:
    """Config, Redis, the local connection index and what shutdown must wait for."""

    cfg: GatewayConfig
    client: redis_async.Redis
    batch_client: redis_async.Redis
    """Presence writes and catch-up reads: no timer per reply, each batch has a deadline."""
    keys: Keys
    jwt: JwtSettings
    jwks: JwksCache | None
    pubsub: PubSub
    pings: PingWheel
    feed_reads: FeedReads
    presence: PresenceWrites
    close_tasks: set[asyncio.Task[Any]]
    sockets: LocalSockets = field(default_factory=LocalSockets)
    opening: set[WebSocket] = field(default_factory=set)
    """Upgraded sockets whose session is not live yet (waiting for their auth frame, catching
    up): the drain closes them with 1001 too."""
    accepting_from_ms: int = 0
    """Until then (unix ms) the node takes no client: a routing of a room audience that read the
    live nodes before this node was announced may still write its room feed (in_flight.py)."""
    draining: bool = False
    """Set on SIGTERM: refuse new connections, skip per-connection presence writes."""
    resyncing: bool = False
    """From a heartbeat finding this node's presence gone until it is announced again and the
    clients got what they missed (resync.py); /readyz fails meanwhile."""

    def started(self) -> bool:
        """Whether the node takes clients yet (`accepting_from_ms`)."""
        return now_ms() >= self.accepting_from_ms

    @classmethod
    def create(cls, cfg: GatewayConfig, client: redis_async.Redis, batch_client: redis_async.Redis) -> Node:
        jwks = cfg.jwks_cache()
        keys = Keys(cfg.key_prefix, cfg.stream_shards)
        close_tasks: set[asyncio.Task[Any]] = set()
        deadline_s = cfg.consumer_block_ms / 1000 + 5  # as long as the main client's reply timeout
        return cls(
            cfg=cfg,
            client=client,
            batch_client=batch_client,
            keys=keys,
            jwt=cfg.jwt_settings(),
            jwks=jwks,
            pubsub=client.pubsub(ignore_subscribe_messages=True),
            pings=PingWheel(cfg.ping_interval_s),
            feed_reads=FeedReads(batch_client, close_tasks, deadline_s),
            presence=PresenceWrites(batch_client, keys, cfg.node_id, close_tasks, deadline_s),
            close_tasks=close_tasks,
        )
