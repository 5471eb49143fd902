"""Router settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import CommonConfig


class RouterConfig(CommonConfig, frozen=True, kw_only=True):
    ops_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9102
    node_ttl_ms: Annotated[int, msgspec.Meta(gt=0)] = 15_000
    feed_maxlen: Annotated[int, msgspec.Meta(gt=0)] = 200
    room_feed_maxlen: Annotated[int, msgspec.Meta(gt=0)] = 1000
