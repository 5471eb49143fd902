"""Push-worker metrics (Prometheus conventions, prefix nf_push_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENDS = Counter(
    "nf_push_sends_total",
    "Push sends by outcome: pushed, token_removed, dead_lettered, retry_scheduled, deferred, expired, "
    "duplicate_skipped.",
    ["outcome"],
)
FCM_ERRORS = Counter("nf_push_fcm_errors_total", "Errors FCM returned, by error code.", ["code"])
FCM_BATCH_SECONDS = Histogram(
    "nf_push_fcm_batch_seconds",
    "Time for one send_each_async batch to come back from FCM.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("nf_push_fcm_batches_in_flight", "FCM batches being sent right now.")
BREAKER_OPEN = Gauge("nf_push_breaker_open", "1 while the circuit to FCM is open (sending paused).")
BREAKER_TRANSITIONS = Counter("nf_push_breaker_transitions_total", "Circuit state changes.", ["to"])
AUTH_FAILED = Gauge(
    "nf_push_auth_failed", "1 while sending is paused by an auth failure (credentials or platform auth)."
)
RETRY_BACKLOG = Gauge("nf_push_retry_backlog", "Pushes waiting in the durable retry schedule.")
TOKENS_REMOVED = Counter(
    "nf_push_tokens_removed_total", "Device tokens removed because FCM called them dead."
)
