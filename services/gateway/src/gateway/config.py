"""Gateway settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import CommonConfig


class GatewayConfig(CommonConfig, frozen=True, kw_only=True):
    host: str = "0.0.0.0"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    ops_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9101
    jwt_secret: Annotated[str, msgspec.Meta(min_length=16)]
    jwt_algorithms: list[str] = msgspec.field(default_factory=lambda: ["HS256"])
    jwt_leeway_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 30.0
    heartbeat_ms: Annotated[int, msgspec.Meta(gt=0)] = 5_000
    node_ttl_ms: Annotated[int, msgspec.Meta(gt=0)] = 15_000
    max_frame_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024
