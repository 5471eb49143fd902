"""Per-user notification preferences: muted categories and channels.

Stored as a hash under `keys.preferences(user)`: field `muted_categories` and field
`muted_channels`, each a JSON array of names. The router reads it with presence (recipients.py).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.schemas import Channel, Name

MAX_MUTED_CATEGORIES = 100
_CATEGORIES = b"muted_categories"
_CHANNELS = b"muted_channels"


class Preferences(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a user muted."""

    muted_categories: Annotated[list[Name], msgspec.Meta(max_length=MAX_MUTED_CATEGORIES)] = []
    muted_channels: Annotated[list[Channel], msgspec.Meta(max_length=2)] = []


NO_PREFERENCES = Preferences()
_names = msgspec.json.Decoder(list[str])


def preferences_from_hash(fields: dict[bytes, bytes]) -> Preferences:
    """The stored hash to Preferences; an unreadable field counts as nothing muted."""
    return Preferences(
        muted_categories=_decode_names(fields.get(_CATEGORIES)),
        muted_channels=[c for c in _decode_names(fields.get(_CHANNELS)) if c in ("socket", "push")],  # type: ignore[misc]
    )


def _decode_names(raw: bytes | None) -> list[str]:
    if not raw:
        return []
    try:
        return _names.decode(raw)
    except msgspec.DecodeError:
        return []  # only this module writes the hash; never block delivery on a bad value


async def read_preferences(client: redis_async.Redis, keys: Keys, user_id: str) -> Preferences:
    """One user's preferences."""
    return preferences_from_hash(await client.hgetall(keys.preferences(user_id)))


async def write_preferences(client: redis_async.Redis, keys: Keys, user_id: str, prefs: Preferences) -> None:
    """Replace one user's preferences at once (MULTI/EXEC)."""
    key = keys.preferences(user_id)
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    if prefs.muted_categories or prefs.muted_channels:
        pipe.hset(
            key,
            mapping={
                _CATEGORIES: msgspec.json.encode(sorted(set(prefs.muted_categories))),
                _CHANNELS: msgspec.json.encode(sorted(set(prefs.muted_channels))),
            },
        )
    await pipe.execute()
