"""Deliveries are at least once: remember the ids already shown and drop repeats."""

from __future__ import annotations


class SeenIds:
    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = capacity
        self._ids: dict[str, None] = {}  # insertion-ordered: the first key is the oldest

    def first_time(self, nid: str) -> bool:
        """True the first time an id is offered, False for a repeat; the oldest are forgotten."""
        if nid in self._ids:
            return False
        self._ids[nid] = None
        if len(self._ids) > self.capacity:
            del self._ids[next(iter(self._ids))]
        return True

    def __contains__(self, nid: object) -> bool:
        return nid in self._ids
