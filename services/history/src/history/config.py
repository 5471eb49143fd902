"""History settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import ConfigError, Port
from notify_common.user_auth import UserAuthConfig

from history.db import is_postgres_url

Seconds = Annotated[float, msgspec.Meta(gt=0)]


DEFAULT_DATABASE_URL = "sqlite:///./notify-history.db"
DatabaseUrl = Annotated[
    str,
    msgspec.Meta(
        description="postgresql://user:pass@host:5432/db (production) or sqlite:///path/to/file.db "
        "(embedded, the local default). Migrations are applied at start-up."
    ),
]


def _check_database_url(url: str) -> None:
    if not (is_postgres_url(url) or url.startswith("sqlite:///")):
        raise ConfigError("DATABASE_URL: must start with postgresql:// or sqlite:///")


class MigrateConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What `python -m history.migrate` needs: only the database."""

    database_url: DatabaseUrl = DEFAULT_DATABASE_URL

    def validate(self) -> None:
        _check_database_url(self.database_url)


class HistoryConfig(UserAuthConfig, frozen=True, kw_only=True):
    ops_port: Annotated[Port, msgspec.Meta(description="Port of /healthz, /readyz, /metrics.")] = 9104
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL
    database_pool_size: Annotated[
        int, msgspec.Meta(ge=1, le=100, description="PostgreSQL connections per replica.")
    ] = 10
    api_host: Annotated[str, msgspec.Meta(description="Address the inbox HTTP API listens on.")] = "0.0.0.0"
    api_port: Annotated[
        Port, msgspec.Meta(description="Port of the inbox HTTP API (0 picks a free one).")
    ] = 8084
    admin_token: Annotated[
        str,
        msgspec.Meta(
            description="Bearer token of services and support tools for /v1/admin/* routes; "
            "empty disables them."
        ),
    ] = ""
    inbox_page_max: Annotated[
        int, msgspec.Meta(ge=1, le=1000, description="Largest `limit` a client may ask for per page.")
    ] = 100
    history_write_window_ms: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=10_000,
            description="After a short read, wait this long for more entries before writing, ms: one "
            "commit (and one XACK) per window instead of per entry, at the cost of this much delay "
            "before the inbox shows a notification. 0 writes every read at once.",
        ),
    ] = 100
    history_batch: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=10_000,
            description="Most stream entries written in one transaction (history's CONSUMER_BATCH).",
        ),
    ] = 1000
    retention_days: Annotated[
        float, msgspec.Meta(gt=0, description="Notifications older than this many days are deleted.")
    ] = 30.0
    retention_batch: Annotated[
        int, msgspec.Meta(ge=1, le=100_000, description="Notifications deleted per transaction by retention.")
    ] = 1000
    retention_interval_s: Annotated[
        Seconds, msgspec.Meta(description="Pause between retention runs (one replica runs at a time).")
    ] = 3600.0
    retention_lease_ms: Annotated[
        int,
        msgspec.Meta(
            ge=1000, description="Lifetime of the retention lease in Redis; renewed between batches."
        ),
    ] = 60_000

    def validate(self) -> None:
        _check_database_url(self.database_url)
        super().validate()
