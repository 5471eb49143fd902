"""Per-user rate limit: a fixed-window counter per user (counted in recipients.py).

Rule (docs/protocol.md section 3): each notification addressed to a user counts once in the
current window of RATE_LIMIT_WINDOW_S; past RATE_LIMIT_PER_USER in a window it is dropped for
that user with a `dropped` receipt. Priority `high` is delivered even over the limit, transient
signals are not counted. A batch replayed after a crash counts again, so a replay can only make
the limit stricter for that window.
"""

from __future__ import annotations


def allowed_in_batch(count_after: int, occurrences: int, limit: int) -> int:
    """How many of this batch's `occurrences` for one user fit under `limit`, given the count."""
    before = count_after - occurrences
    return max(0, min(occurrences, limit - before))
