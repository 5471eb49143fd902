"""Router settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import Port
from notify_common.user_auth import UserAuthConfig


class RouterConfig(UserAuthConfig, frozen=True, kw_only=True):
    ops_port: Annotated[Port, msgspec.Meta(description="Port of /healthz, /readyz, /metrics.")] = 9102
    feed_maxlen: Annotated[
        int, msgspec.Meta(gt=0, description="Entries kept (approximately) in each user's catch-up feed.")
    ] = 200
    room_feed_maxlen: Annotated[
        int,
        msgspec.Meta(
            gt=0, description="Entries kept (approximately) in each broadcast room's catch-up feed."
        ),
    ] = 1000
    http_host: Annotated[
        str, msgspec.Meta(description="Address the publishing and preferences API listens on.")
    ] = "0.0.0.0"
    http_port: Annotated[
        Port,
        msgspec.Meta(description="Port of the publishing and preferences API (0 picks a free one)."),
    ] = 8090
    http_max_body_bytes: Annotated[
        int, msgspec.Meta(ge=1024, description="Largest request body the HTTP API accepts (bytes).")
    ] = 4 * 1024 * 1024
    http_batch_max: Annotated[
        int, msgspec.Meta(ge=1, le=10_000, description="Most events in one POST /v1/events/batch.")
    ] = 500
    service_tokens: Annotated[
        list[str],
        msgspec.Meta(
            description="Bearer tokens that may publish over HTTP (comma-separated); empty refuses every "
            "publish. Never logged."
        ),
    ] = msgspec.field(default_factory=list)
    idempotency_ttl_s: Annotated[
        int,
        msgspec.Meta(
            gt=0,
            description="How long an event id is remembered: a re-publish within it is dropped (seconds).",
        ),
    ] = 86_400
    rate_limit_per_user: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description="Notifications one user may receive per window; over it they are dropped "
            "(priority high is exempt, transient signals are not counted). 0 disables the limit.",
        ),
    ] = 60
    rate_limit_window_s: Annotated[
        int, msgspec.Meta(gt=0, le=86_400, description="Length of the per-user rate-limit window (seconds).")
    ] = 60
    geo_max_age_s: Annotated[
        float,
        msgspec.Meta(gt=0, description="Positions older than this are ignored by geo audiences (seconds)."),
    ] = 300.0
    schedule_poll_ms: Annotated[
        int, msgspec.Meta(gt=0, description="How often each replica looks for due scheduled events (ms).")
    ] = 250
    schedule_lease_ms: Annotated[
        int,
        msgspec.Meta(
            gt=0,
            description="A released scheduled event not confirmed within this time is released again "
            "(its replica died) (ms).",
        ),
    ] = 30_000
    schedule_batch: Annotated[
        int, msgspec.Meta(ge=1, le=10_000, description="Most scheduled events one replica releases per poll.")
    ] = 200
    routing_timeout_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            le=300,
            description="Longest one routing chunk's Redis work may take before the batch is left "
            "pending and retried (seconds).",
        ),
    ] = 10.0
    routing_chunk_recipients: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description="A batch is routed in chunks of events with at most this many explicit "
            "recipients together (an event with more is a chunk of its own), bounding each pipeline.",
        ),
    ] = 20_000
    fcm_topic_prefix: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[A-Za-z0-9_.~-]{0,32}$",
            description="Prefix of the FCM topics used for broadcasts (e.g. `prod-`), when environments "
            "share one Firebase project.",
        ),
    ] = ""
