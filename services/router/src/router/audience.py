"""Who an event reaches: explicit recipients (users, geo) and broadcast rooms (role, all, topic).

Broadcasts are never expanded to users here: each gateway node fans a room out to its own
members, and offline members get one FCM topic message.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis_async
from notify_common.keys import Keys
from notify_common.rooms import audience_room
from notify_common.schemas import AllAudience, Event, GeoAudience, RoleAudience, TopicAudience, UsersAudience

GEO_OVERFETCH = 3
"""GEOSEARCH fetches this many times `limit` so stale positions do not crowd out fresh ones."""


def rooms_of(event: Event) -> list[str]:
    """Gateway rooms of a broadcast (`role:<r>`, `all`, `topic:<t>`); [] for explicit audiences."""
    room = audience_room(event.audience)
    return [] if room is None else [room]


def fcm_topic_of(event: Event, prefix: str = "") -> str | None:
    """The FCM topic apps subscribe to for a broadcast: `role-<r>`, `all`, `topic-<t>`.

    FCM topic names allow `[A-Za-z0-9-_.~%]`; the `:` that audience names may hold becomes `%3A`.
    """
    match event.audience:
        case RoleAudience(role=role):
            name = f"role-{role}"
        case AllAudience():
            name = "all"
        case TopicAudience(topic=topic):
            name = f"topic-{topic}"
        case _:
            return None
    return prefix + name.replace(":", "%3A")


def explicit_users(event: Event) -> list[str]:
    """The users a `users` audience names, each once, in the given order."""
    if isinstance(event.audience, UsersAudience):
        return list(dict.fromkeys(event.audience.ids))
    return []


async def geo_recipients(
    client: redis_async.Redis, keys: Keys, audiences: Sequence[GeoAudience], now_ms: int, max_age_ms: int
) -> list[list[str]]:
    """For each geo audience, the nearest users of its role seen within `max_age_ms`, up to `limit`.

    Two round trips for any number of audiences: the GEOSEARCHes, then the last-seen times.
    """
    if not audiences:
        return []
    pipe = client.pipeline(transaction=False)
    for geo in audiences:
        pipe.geosearch(
            keys.locations(geo.role),
            longitude=geo.lon,
            latitude=geo.lat,
            radius=geo.radius_m,
            unit="m",
            sort="ASC",
            count=geo.limit * GEO_OVERFETCH,
        )
    found: list[list[str]] = [[m.decode() for m in reply] for reply in await pipe.execute()]
    pipe = client.pipeline(transaction=False)
    for geo, members in zip(audiences, found, strict=True):
        if members:
            pipe.zmscore(keys.location_seen(geo.role), members)
    seen_replies = iter(await pipe.execute())
    oldest = now_ms - max_age_ms
    result: list[list[str]] = []
    for geo, members in zip(audiences, found, strict=True):
        if not members:
            result.append([])
            continue
        seen = next(seen_replies)
        fresh = [m for m, at in zip(members, seen, strict=True) if at is not None and at >= oldest]
        result.append(fresh[: geo.limit])
    return result
