"""Each service's event-loop lag over a window: two scrapes of /metrics, the p99 of the difference."""

from __future__ import annotations

import math
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

LAG_METRIC = "nf_event_loop_lag_seconds"

Buckets = dict[float, float]
"""Cumulative observation count by bucket upper bound (`le`), as Prometheus exposes them."""


def scrape_lag(url: str, timeout_s: float = 5.0) -> Buckets:
    """The lag histogram's buckets from one service's /metrics (empty if it exports none)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        text = resp.read().decode()
    buckets: Buckets = {}
    for family in text_string_to_metric_families(text):
        if family.name != LAG_METRIC:
            continue
        for sample in family.samples:
            if sample.name == f"{LAG_METRIC}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def scrape_all(urls: dict[str, str]) -> dict[str, Buckets]:
    return {name: scrape_lag(url) for name, url in urls.items()}


def quantile_ms(before: Buckets, after: Buckets, q: float) -> float | None:
    """The `q` quantile of what was observed between two scrapes, as a bucket upper bound in ms.

    A quantile in the +Inf bucket reads as the largest finite bound (as PromQL's
    histogram_quantile does); None when nothing was observed.
    """
    bounds = sorted(after)
    delta = [after[b] - before.get(b, 0.0) for b in bounds]
    if not delta or delta[-1] <= 0:
        return None
    rank = q * delta[-1]
    finite = [b for b in bounds if not math.isinf(b)]
    for bound, seen in zip(bounds, delta, strict=True):
        if seen >= rank:
            return round((bound if not math.isinf(bound) else finite[-1]) * 1000, 3)
    return round(finite[-1] * 1000, 3)


def p99_by_service(before: dict[str, Buckets], after: dict[str, Buckets]) -> dict[str, float | None]:
    """Each service's lag p99 (ms) between two `scrape_all` readings."""
    return {name: quantile_ms(before.get(name, {}), after[name], 0.99) for name in sorted(after)}
