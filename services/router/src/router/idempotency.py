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


async def duplicates(
    client: redis_async.Redis, keys: Keys, claims: Sequence[tuple[str, str]], ttl_s: int
) -> set[str]:
    """Entry ids among `claims` ((event id, entry id) pairs) whose event id another entry owns."""
    if not claims:
        return set()
    pipe = client.pipeline(transaction=False)
    for event_id, entry_id in claims:
        pipe.set(keys.seen(SCOPE, event_id), entry_id, nx=True, get=True, ex=ttl_s)
    replies = await pipe.execute()
    dup: set[str] = set()
    for (_, entry_id), owner in zip(claims, replies, strict=True):
        if owner is not None and owner.decode() != entry_id:
            dup.add(entry_id)
    return dup
