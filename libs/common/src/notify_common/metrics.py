"""Prometheus metrics shared by every service (names follow Prometheus conventions)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STREAM_ENTRIES = Counter(
    "nf_stream_entries_total",
    "Stream entries handled by a consumer, by outcome (acked, dead_lettered, retried, failed).",
    ["stream", "group", "outcome"],
)
STREAM_BATCH_SECONDS = Histogram(
    "nf_stream_batch_seconds",
    "Time to handle one batch of stream entries.",
    ["group"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STREAM_CLAIMED = Counter(
    "nf_stream_claimed_total",
    "Entries claimed from consumers that left them idle (crashed or stuck).",
    ["stream", "group"],
)
REDIS_ERRORS = Counter("nf_redis_errors_total", "Redis connection errors seen by a loop.", ["loop"])
DEAD_LETTERS = Counter(
    "nf_dead_letters_total", "Entries written to the dead-letter stream.", ["stream", "group"]
)
STREAM_TRIMMED = Counter(
    "nf_stream_trimmed_entries_total", "Entries removed by trimming acknowledged work.", ["stream"]
)
CONSUMER_UP = Gauge("nf_consumer_up", "1 while a consumer loop is reading successfully.", ["stream", "group"])
EVENT_LOOP_LAG_SECONDS = Histogram(
    "nf_event_loop_lag_seconds",
    "How late a timer on the event loop fired (a loop blocked or saturated by work shows here).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
