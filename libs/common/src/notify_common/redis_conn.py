"""One way to open a Redis connection pool from REDIS_URL."""

from __future__ import annotations

import redis.asyncio as redis_async


def connect(
    url: str,
    *,
    block_ms: int = 1000,
    max_connections: int = 64,
    pool_timeout_s: float = 10.0,
    per_read_timeout: bool = True,
) -> redis_async.Redis:
    """A client for redis://, rediss:// (TLS) or unix:// URLs, with a password if the URL has one.

    The pool blocks (up to `pool_timeout_s`) when all `max_connections` are busy instead of
    failing: a burst of WebSocket handshakes or closes waits its turn rather than losing presence
    writes. The socket timeout outlasts the longest blocking read, so XREADGROUP BLOCK never
    times out client-side; health checks spot connections that died while idle.
    `per_read_timeout=False` drops the per-reply timer (a measurable cost on pipelines of
    thousands of commands): the caller then bounds each operation itself (`asyncio.timeout`).
    """
    pool = redis_async.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        socket_timeout=block_ms / 1000 + 5 if per_read_timeout else None,
        socket_connect_timeout=3,
        health_check_interval=15,
        decode_responses=False,
    )
    return redis_async.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it
