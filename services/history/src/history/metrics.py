"""History's Prometheus metrics (the shared ones live in notify_common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ROWS_WRITTEN = Counter(
    "nf_history_rows_written_total",
    "Rows history handed to the database by table (replays count again; the database skips them).",
    ["table"],
)
COMMITS = Counter(
    "nf_history_commits_total",
    "Database transactions history committed: one per stream batch (write window), inbox write, "
    "retention batch.",
)
RETENTION_DELETED = Counter(
    "nf_history_retention_deleted_total", "Notifications deleted by the retention job for their age."
)
API_SECONDS = Histogram(
    "nf_history_api_request_seconds",
    "Inbox API request time by route.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
