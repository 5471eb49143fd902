"""One way to open a Redis connection pool from REDIS_URL."""

from __future__ import annotations

import redis.asyncio as redis_async


def connect(url: str, *, block_ms: int = 1000, max_connections: int = 64) -> redis_async.Redis:
    """A client for redis://, rediss:// (TLS) or unix:// URLs, with a password if the URL has one.

    The socket timeout outlasts the longest blocking read, so XREADGROUP BLOCK never times out
    client-side; health checks spot connections that died while idle.
    """
    return redis_async.Redis.from_url(
        url,
        socket_timeout=block_ms / 1000 + 5,
        socket_connect_timeout=3,
        health_check_interval=15,
        max_connections=max_connections,
        decode_responses=False,
    )
