"""A log-bucketed latency histogram: 1% relative precision, mergeable across processes.

Chosen over the `hdrhistogram` package because the load generator runs in several processes
and the histograms travel back over a pipe: a plain dict of bucket counts pickles as is and
merges by addition, and recording is one `log` and one dict update (no dependency, no C build).
Values are recorded in microseconds; quantiles report the bucket's upper bound, so they are
never optimistic by more than the 1% bucket width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(value_us: float) -> int:
    """The bucket holding `value_us` (values below 1 µs share bucket 0)."""
    if value_us <= 1:
        return 0
    return math.ceil(math.log(value_us) / _LOG_GROWTH)


def bucket_upper_us(bucket: int) -> float:
    """The largest value that falls in `bucket`."""
    return float(GROWTH**bucket)


@dataclass
class Histogram:
    """Counts per log bucket plus the exact extremes."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    min_us: float = math.inf
    max_us: float = 0.0

    def record(self, value_us: float) -> None:
        b = bucket_of(value_us)
        self.counts[b] = self.counts.get(b, 0) + 1
        self.total += 1
        self.min_us = min(self.min_us, value_us)
        self.max_us = max(self.max_us, value_us)

    def record_all(self, values_us: Iterable[float]) -> None:
        for value in values_us:
            self.record(value)

    def merge(self, other: Histogram) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n
        self.total += other.total
        self.min_us = min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)

    def quantile_us(self, q: float) -> float:
        """The value below which a fraction `q` of the recorded values lie (0 if empty)."""
        if self.total == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return min(bucket_upper_us(b), self.max_us)
        return self.max_us

    def quantile_ms(self, q: float) -> float:
        return round(self.quantile_us(q) / 1000, 3)

    def percentile_curve(self, points: int = 200) -> tuple[list[float], list[float]]:
        """(quantile, latency ms) pairs from p0 to p99.99, for HDR-style plots."""
        qs = [1 - 10 ** (-4 * i / points) for i in range(points + 1)]
        return qs, [self.quantile_us(q) / 1000 for q in qs]

    def summary_ms(self) -> dict[str, float]:
        return {
            "count": self.total,
            "p50_ms": self.quantile_ms(0.50),
            "p90_ms": self.quantile_ms(0.90),
            "p99_ms": self.quantile_ms(0.99),
            "p999_ms": self.quantile_ms(0.999),
            "max_ms": round(self.max_us / 1000, 3),
        }
