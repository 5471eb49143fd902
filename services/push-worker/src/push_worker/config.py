"""Push-worker settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import CommonConfig


class PushConfig(CommonConfig, frozen=True, kw_only=True):
    ops_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9103
