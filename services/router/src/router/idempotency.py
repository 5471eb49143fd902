"""Idempotency by event id: the first ingress entry that routes an id owns it.

`SET seen:route:<event id> <entry id> NX GET EX ttl` in one pipelined round trip per batch:
- no previous value: this entry claims the id and is routed;
- the previous value is this same entry id: a replay of this entry (its replica died after the
  claim, before or after writing its effects) - routed again, so nothing is lost; recipients may
  see the notification twice with the same id, which the gateway and clients drop;
- another entry id: the same event was published again - not routed.
Events without an `id` get `evt-<entry id>`, unique by construction, and need no claim.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis_async
from notify_common.keys import Keys

SCOPE = "route"


def queue_claims(
    pipe: redis_async.client.Pipeline, keys: Keys, claims: Sequence[tuple[str, str]], ttl_s: int
) -> None:
    """Queue one claim per (event id, entry id) pair; `duplicates` reads the replies."""
    for event_id, entry_id in claims:
        pipe.set(keys.seen(SCOPE, event_id), entry_id, nx=True, get=True, ex=ttl_s)


def duplicates(claims: Sequence[tuple[str, str]], replies: Sequence[bytes | None]) -> set[str]:
    """Entry ids among `claims` whose event id another entry owns, from the claims' replies."""
    dup: set[str] = set()
    for (_, entry_id), owner in zip(claims, replies, strict=True):
        if owner is not None and owner.decode() != entry_id:
            dup.add(entry_id)
    return dup
