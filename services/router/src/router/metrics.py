"""Router metrics (Prometheus names with the `nf_router_` prefix)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "nf_router_events_total",
    "Ingress events by outcome (routed, scheduled, duplicate, expired).",
    ["outcome"],
)
DELIVERIES = Counter(
    "nf_router_deliveries_total",
    "Recipients written per channel: socket (explicit recipient or node entry of a broadcast), "
    "push (user in a push job or one FCM topic message).",
    ["channel"],
)
NODE_ENTRIES = Counter("nf_router_node_entries_total", "Entries written to gateway node delivery streams.")
DROPPED = Counter(
    "nf_router_dropped_total",
    "Notifications not delivered to a user, by reason (rate_limited, muted_category).",
    ["reason"],
)
SCHEDULED_RELEASED = Counter(
    "nf_router_scheduled_released_total", "Scheduled events released for routing when due."
)
HTTP_PUBLISHED = Counter("nf_router_http_published_total", "Events appended to ingress through the HTTP API.")
HTTP_REJECTED = Counter(
    "nf_router_http_rejected_total",
    "HTTP requests refused, by reason (invalid, unauthorized, redis_unavailable, internal).",
    ["reason"],
)
HTTP_SECONDS = Histogram(
    "nf_router_http_request_seconds",
    "HTTP API request time by route (publishing and preferences), refusals included.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
