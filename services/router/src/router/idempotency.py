"""Idempotency by event id: the first ingress entry that routes an id owns it.

`SET seen:route:<event id> <entry id> NX GET EX ttl`, sent with the batch's other reads:
- no previous value: this entry claims the id and is routed;
- the previous value is this same entry id: a replay of this entry (its replica died after the
  claim, before or after writing its effects) - routed again, so nothing is lost; recipients may
  see the notification twice with the same id, which the gateway and clients drop;
- another entry id: the same event was published again - not routed.
Events without an `id` get `evt-<entry id>`, unique by construction, and need no claim.
"""

from __future__ import annotations

from collections.abc import Sequence

from notify_common.keys import Keys
from notify_common.redis_line import Command

SCOPE = "route"


def claim_commands(keys: Keys, claims: Sequence[tuple[str, str]], ttl_s: int) -> list[Command]:
    """One claim per (event id, entry id) pair; `duplicates` reads their replies."""
    return [
        ("SET", keys.seen(SCOPE, event_id), entry_id, "NX", "GET", "EX", ttl_s)
        for event_id, entry_id in claims
    ]


def duplicates(claims: Sequence[tuple[str, str]], replies: Sequence[bytes | None]) -> set[str]:
    """Entry ids among `claims` whose event id another entry owns, from the claims' replies."""
    dup: set[str] = set()
    for (_, entry_id), owner in zip(claims, replies, strict=True):
        if owner is not None and owner.decode() != entry_id:
            dup.add(entry_id)
    return dup
