"""Which shard of a sharded stream an entry goes to (`STREAM_SHARDS`), decided here only.

The ingress, push and receipts streams may be split into N shard streams, each its own Redis key
(so, in a cluster, its own slot). An entry's shard is `crc32(shard key) mod N` (zlib's CRC-32,
the IEEE polynomial every language ships, of the key's UTF-8 bytes, unsigned). Entries with the
same shard key land in the same shard, which one consumer group reads in order; that keeps the
order of everything about one user. The shard key:

- of an event: its single recipient's user id (`audience` of kind `users` with one id);
  otherwise the publisher's `source`; otherwise its `type`;
- of a push job: the shard key of the event it was made from (the router writes it to the push
  shard of the same number as the ingress shard it read the event from);
- of a receipt: its `user_id`.
"""

from __future__ import annotations

import zlib

from notify_common.schemas import Event, UsersAudience


def shard_index(shard_key: str, shards: int) -> int:
    """The shard (0 ≤ index < `shards`) of entries with this shard key."""
    if shards <= 1:
        return 0
    return zlib.crc32(shard_key.encode()) % shards


def event_shard_key(event: Event) -> str:
    """The single recipient's user id, else the event's `source`, else its `type`."""
    audience = event.audience
    if isinstance(audience, UsersAudience) and len(audience.ids) == 1:
        return audience.ids[0]
    return event.source or event.type


def sharded_name(base: str, index: int) -> str:
    """Shard `index` of the stream `base`: shard 0 keeps the unsharded name, shard i > 0 is
    `<base>:<i>`. Publishers that do not know about shards still reach a consumer (shard 0),
    and going from one shard to several leaves every entry already written where it is read."""
    return base if index == 0 else f"{base}:{index}"
