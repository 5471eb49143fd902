"""notifyctl's settings: where the fleet's Redis is and its key prefix (flags override them)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.presence import DEFAULT_NODE_TTL_MS


class CtlConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Read from the same variables the services use, so a shell inside any pod just works."""

    redis_url: Annotated[
        str,
        msgspec.Meta(
            description="The fleet's Redis, in any REDIS_URL form (one server, redis+cluster://, "
            "redis+sentinel://). Empty: read-only commands use redis://127.0.0.1:6379/0 "
            "(and say so); commands that write refuse to run."
        ),
    ] = ""
    key_prefix: Annotated[
        str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,32}$", description="The fleet's key prefix.")
    ] = "nf"
    stream_shards: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=1024,
            description="The fleet's STREAM_SHARDS: shard streams of ingress, push and receipts.",
        ),
    ] = 1
    node_ttl_ms: Annotated[
        int,
        msgspec.Meta(
            gt=0, description="The fleet's NODE_TTL_MS: a node without a heartbeat this long is dead."
        ),
    ] = DEFAULT_NODE_TTL_MS
    claim_idle_ms: Annotated[
        int, msgspec.Meta(gt=0, description="A consumer idle this long with pending entries is stuck.")
    ] = 30_000
    ops_host: Annotated[str, msgspec.Meta(description="Address `notifyctl exporter` listens on.")] = "0.0.0.0"
    ops_port: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=65535, description="Port of `notifyctl exporter` (/metrics, /healthz, /readyz)."
        ),
    ] = 9109
    metrics_token: Annotated[
        str, msgspec.Meta(description="Bearer token /metrics requires; empty = none.")
    ] = ""
