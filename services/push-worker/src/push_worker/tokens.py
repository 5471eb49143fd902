"""Keep the OAuth access token fresh off the event loop.

google-auth refreshes with blocking `requests` calls, and the SDK would do that inline on the
event loop whenever the token is about to expire. Refreshing early in a thread keeps the loop
free; a refresh refused by Google (RefreshError: revoked key, deleted service account) trips
the auth alarm at once instead of waiting for the next push to fail.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog
from google.auth import exceptions as auth_exceptions
from notify_common.lifecycle import periodic

from push_worker.breaker import ALL_PLATFORMS, CREDENTIALS, AuthAlarm
from push_worker.fcm import Fcm

log = structlog.get_logger("push_worker.tokens")
REFRESH_BEFORE_S = 300.0
TRANSPORT_RETRY_S = 10.0


def seconds_until_refresh(expiry: dt.datetime | None, now: dt.datetime) -> float:
    """When to refresh next: five minutes before expiry (google-auth expiries are naive UTC)."""
    if expiry is None:
        return REFRESH_BEFORE_S
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=dt.UTC)
    return max(1.0, (expiry - now).total_seconds() - REFRESH_BEFORE_S)


async def keep_token_fresh(fcm: Fcm, alarm: AuthAlarm, stop: asyncio.Event) -> None:
    """Refresh the token ahead of its expiry until `stop`; a refused refresh trips the alarm."""

    async def refresh() -> float:
        try:
            expiry = await fcm.refresh_token()
        except auth_exceptions.RefreshError as exc:
            log.error("fcm_credentials_refused", error=str(exc)[:300])
            alarm.trip(ALL_PLATFORMS, f"{CREDENTIALS}: OAuth token refresh failed: {str(exc)[:200]}")
            return alarm.retry_s
        alarm.credentials_work()
        return seconds_until_refresh(expiry, dt.datetime.now(dt.UTC))

    # anything else (token endpoint unreachable: FCM sends would fail too) is retried in a while
    await periodic(
        "fcm_token_refresh",
        refresh,
        REFRESH_BEFORE_S,
        stop,
        backoff_base_s=TRANSPORT_RETRY_S,
        backoff_cap_s=TRANSPORT_RETRY_S,
    )
