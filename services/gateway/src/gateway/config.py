"""Gateway settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import ConfigError, OpsPort, Port
from notify_common.user_auth import UserAuthConfig

from gateway.drain_schedule import LATE_FACTOR
from gateway.ws_protocol import CLOSE_LINGER_S


class GatewayConfig(UserAuthConfig, frozen=True, kw_only=True):
    host: Annotated[str, msgspec.Meta(description="Address the WebSocket/SSE listener binds.")] = "0.0.0.0"
    port: Annotated[
        Port,
        msgspec.Meta(description="Port of the WebSocket (/ws) and SSE (/events) listener."),
    ] = 8080
    listen_backlog: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Connections the kernel queues before the node accepts them (capped by"
                " net.core.somaxconn). A reconnect storm overflows a small queue: dropped SYNs are"
                " retried after 1, 3, 7 s."
            ),
            gt=0,
        ),
    ] = 4096
    ops_port: OpsPort = 9101
    auth_timeout_s: Annotated[
        float,
        msgspec.Meta(
            description="Time a client without header/query token has to send its `auth` frame.", gt=0
        ),
    ] = 5.0
    token_notice_s: Annotated[
        float, msgspec.Meta(description="Seconds before expiry the client is sent `token.expiring`.", ge=0)
    ] = 60.0
    max_frame_bytes: Annotated[
        int, msgspec.Meta(description="Largest client frame accepted; larger closes with 1009.", gt=0)
    ] = 64 * 1024
    ping_interval_s: Annotated[
        float,
        msgspec.Meta(
            description="WebSocket ping interval per connection; no pong within half of it closes it.", gt=0
        ),
    ] = 30.0
    send_buffer_bytes: Annotated[
        int,
        msgspec.Meta(
            description="Unsent bytes a connection may queue; beyond it the client is closed with 4408.", gt=0
        ),
    ] = 512 * 1024
    rate_per_s: Annotated[
        float, msgspec.Meta(description="Client frames per second allowed (token bucket refill).", gt=0)
    ] = 20.0
    rate_burst: Annotated[
        int, msgspec.Meta(description="Client frames allowed in a burst (token bucket size).", gt=0)
    ] = 40
    rate_strikes: Annotated[
        int,
        msgspec.Meta(
            description="Refused frames in a row (rate limited) before the connection is closed with 4429.",
            gt=0,
        ),
    ] = 20
    fanout_slice: Annotated[
        int,
        msgspec.Meta(
            description="Sockets written per fan-out slice before yielding to the event loop.", gt=0
        ),
    ] = 256
    heartbeat_ms: Annotated[
        int,
        msgspec.Meta(description="How often the node refreshes its liveness and sweeps dead nodes.", gt=0),
    ] = 5_000
    catchup_max: Annotated[
        int, msgspec.Meta(description="Most notifications replayed by one catch-up.", gt=0, le=1000)
    ] = 200
    catchup_window_s: Annotated[
        int, msgspec.Meta(description="Oldest notification age replayed by catch-up.", gt=0)
    ] = 86_400
    location_roles: Annotated[
        list[str],
        msgspec.Meta(description="Roles whose clients may send location frames (positions stored per role)."),
    ] = msgspec.field(default_factory=lambda: ["driver"])
    tracking_secret: Annotated[
        str,
        msgspec.Meta(
            description="HS256 secret a domain service signs tracking grants with; empty = tracking disabled."
        ),
    ] = ""
    max_tracked: Annotated[
        int, msgspec.Meta(description="Most users one connection may track at once.", gt=0)
    ] = 50
    drain_window_s: Annotated[
        float,
        msgspec.Meta(
            description=(
                "On SIGTERM: time over which the node's sockets are closed (1001, with a reconnect hint),"
                " evenly spread, so the surviving nodes take the reconnects gradually. 1.5 times it (a"
                " drain that fell behind) plus the closing handshake (2 s) must fit within SHUTDOWN_GRACE_S."
            ),
            ge=0,
        ),
    ] = 5.0
    sse_keepalive_s: Annotated[
        float, msgspec.Meta(description="Comment line sent on idle SSE streams.", gt=0)
    ] = 15.0

    def validate(self) -> None:
        super().validate()
        if self.tracking_secret and len(self.tracking_secret) < 16:
            raise ConfigError("TRACKING_SECRET: must be at least 16 characters")
        if self.drain_window_s * LATE_FACTOR + CLOSE_LINGER_S > self.shutdown_grace_s:
            raise ConfigError(
                f"DRAIN_WINDOW_S: {LATE_FACTOR:g} x {self.drain_window_s:g} s (a late drain) plus the"
                f" {CLOSE_LINGER_S:g} s closing handshake must fit within SHUTDOWN_GRACE_S"
                f" ({self.shutdown_grace_s:g} s)"
            )
