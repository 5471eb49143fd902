"""Keep the OAuth access token fresh off the event loop.

google-auth refreshes with blocking `requests` calls, and the SDK would do that inline on the
event loop whenever the token is about to expire. Refreshing early in a thread keeps the loop
free; a refresh refused by Google (RefreshError: revoked key, deleted service account) trips
the auth alarm at once instead of waiting for the next push to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import structlog
from google.auth import exceptions as auth_exceptions

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
    while not stop.is_set():
        try:
            expiry = await fcm.refresh_token()
            wait_s = seconds_until_refresh(expiry, dt.datetime.now(dt.UTC))
            alarm.credentials_work()
        except auth_exceptions.RefreshError as exc:
            log.error("fcm_credentials_refused", error=str(exc)[:300])
            alarm.trip(ALL_PLATFORMS, f"{CREDENTIALS}: OAuth token refresh failed: {str(exc)[:200]}")
            wait_s = alarm.retry_s
        except Exception as exc:  # token endpoint unreachable: FCM sends would fail too
            log.warning("fcm_token_refresh_failed", error=repr(exc)[:300])
            wait_s = TRANSPORT_RETRY_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)
