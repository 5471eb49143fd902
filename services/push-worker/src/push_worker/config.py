"""Push-worker settings (environment variables, see docs/operations.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from notify_common.config import ConfigError, Port
from notify_common.user_auth import UserAuthConfig


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class PushConfig(UserAuthConfig, frozen=True, kw_only=True):
    ops_port: Annotated[Port, msgspec.Meta(description="Port of /healthz, /readyz, /metrics.")] = 9103

    # --- FCM credentials and endpoint -----------------------------------------------------
    firebase_credentials: Annotated[
        str,
        _describe(
            "Service-account credentials for FCM: a file path, or the JSON itself (starting with `{`). "
            "Empty: application-default credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity); "
            "with none of these the service refuses to start."
        ),
    ] = ""
    firebase_project_id: Annotated[
        str, _describe("Firebase project id; empty takes it from the credentials.")
    ] = ""
    fcm_base_url: Annotated[
        str,
        _describe(
            "Development and tests only: send to this FCM-compatible server (the local fake, e.g. "
            "http://127.0.0.1:9099) instead of https://fcm.googleapis.com. Empty in production."
        ),
    ] = ""
    fcm_timeout_s: Annotated[
        float, msgspec.Meta(gt=0, le=300, description="HTTP timeout of one FCM request, seconds.")
    ] = 10.0

    fcm_http2: Annotated[
        bool,
        _describe(
            "Send over HTTP/2, many requests multiplexed on FCM_CONNECTIONS connections (FCM speaks it; "
            "over an http:// FCM_BASE_URL with prior knowledge). false: HTTP/1.1, one connection per "
            "request in flight and 2-3 times the CPU per push; httpcore scans every connection per "
            "request, so keep FCM_BATCH_SIZE x FCM_MAX_IN_FLIGHT at or below 100 then."
        ),
    ] = True
    fcm_connections: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=64,
            description="HTTP/2 connections to FCM per process. Each carries up to the server's concurrent "
            "stream limit (100 at FCM): keep FCM_BATCH_SIZE x FCM_MAX_IN_FLIGHT at or below 100 per "
            "connection. With FCM_HTTP2=false the pool has one connection per request in flight instead.",
        ),
    ] = 2

    # --- batching -------------------------------------------------------------------------
    fcm_batch_size: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=500,
            description="Messages per send_each_async call (FCM's limit: 500); the SDK starts all of a "
            "batch's requests at once.",
        ),
    ] = 100
    fcm_max_in_flight: Annotated[
        int, msgspec.Meta(ge=1, le=64, description="FCM batches sent concurrently by one process.")
    ] = 2

    # --- retries --------------------------------------------------------------------------
    push_retry_base_s: Annotated[
        float, msgspec.Meta(gt=0, description="First retry delay (exponential with jitter), seconds.")
    ] = 1.0
    push_retry_max_s: Annotated[
        float, msgspec.Meta(gt=0, description="Longest delay between two retries of a push, seconds.")
    ] = 300.0
    push_max_attempts: Annotated[
        int, msgspec.Meta(ge=1, description="Sends of one push before it is dead-lettered.")
    ] = 8
    push_max_age_s: Annotated[
        float,
        msgspec.Meta(
            gt=0, description="A push still failing this long after its first send is dead-lettered."
        ),
    ] = 3600.0
    push_retry_lease_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="A due retry taken by one replica is hidden from others this long; if that replica "
            "dies the retry becomes due again.",
        ),
    ] = 60.0
    push_retry_poll_s: Annotated[
        float,
        msgspec.Meta(gt=0, le=60, description="Longest wait between two looks for due retries, seconds."),
    ] = 1.0
    push_dedup_ttl_s: Annotated[
        int,
        msgspec.Meta(
            gt=0,
            description="How long a (notification, token) pair is remembered as pushed, so a redelivered "
            "job does not push it twice. Costs about 100 bytes of Redis per notification.",
        ),
    ] = 6 * 3600

    # --- circuit breaker and auth alarm ---------------------------------------------------
    breaker_failures: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description="Consecutive FCM-unavailable answers (5xx, 429, timeouts) that open "
            "the circuit: the worker stops sending as a whole.",
        ),
    ] = 20
    breaker_open_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="First pause when the circuit opens; doubles per failed probe up to "
            "BREAKER_MAX_OPEN_S. A longer Retry-After from FCM is honoured.",
        ),
    ] = 1.0
    breaker_max_open_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Longest pause of an open circuit, seconds: at most this long after FCM recovers "
            "(unless it asked for a longer Retry-After), one probe message finds out. A probe is a single "
            "message, so a short pause costs one request per pause during an outage.",
        ),
    ] = 5.0
    auth_retry_s: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="After an auth failure (bad credentials, third-party auth), try "
            "again this often; meanwhile messages are kept and /readyz fails.",
        ),
    ] = 60.0

    # --- devices --------------------------------------------------------------------------
    device_stale_days: Annotated[
        float, msgspec.Meta(gt=0, description="A device token not refreshed for this long is dropped.")
    ] = 270.0
    max_devices_per_user: Annotated[
        int, msgspec.Meta(ge=1, description="Devices kept per user; registering more evicts the oldest.")
    ] = 50

    # --- payload mapping ------------------------------------------------------------------
    android_channel_id: Annotated[
        str, _describe("Android notification channel for notifications without a category.")
    ] = "default"
    push_sound: Annotated[str, _describe("Sound of visible pushes on Android and iOS; empty for none.")] = (
        "default"
    )

    # --- device token HTTP API ------------------------------------------------------------
    api_host: Annotated[str, _describe("Interface of the device token HTTP API.")] = "0.0.0.0"
    api_port: Annotated[
        Port, msgspec.Meta(description="Port of the device token HTTP API (0: any free port).")
    ] = 8083

    def validate(self) -> None:
        """Rules across fields; raises ConfigError naming the variable."""
        if self.push_retry_max_s < self.push_retry_base_s:
            raise ConfigError("PUSH_RETRY_MAX_S: must be at least PUSH_RETRY_BASE_S")
        super().validate()
        if self.fcm_base_url and not self.fcm_base_url.startswith(("http://", "https://")):
            raise ConfigError("FCM_BASE_URL: must start with http:// or https://")

    @property
    def fcm_requests_in_flight(self) -> int:
        """Most FCM requests one process has open at once (every message is one request)."""
        return self.fcm_batch_size * self.fcm_max_in_flight

    @property
    def device_stale_ms(self) -> int:
        return int(self.device_stale_days * 86_400_000)
