"""History settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import CommonConfig


class HistoryConfig(CommonConfig, frozen=True, kw_only=True):
    ops_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9104
    database_url: str = "sqlite:///./notify-history.db"
