"""Broadcast room names: `role:<role>`, `topic:<topic>` and `all`, spelled here only.

A room names a broadcast audience everywhere it travels: in node deliveries (`rooms`), in room
feed keys (`Keys.room_feed`), in the gateway's socket index and in history's inbox rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from notify_common.schemas import AllAudience, Audience, RoleAudience, TopicAudience

ALL = "all"
"""The room every connected user is in."""


def role_room(role: str) -> str:
    """The room of every user holding `role`."""
    return f"role:{role}"


def topic_room(topic: str) -> str:
    """The room of every connection subscribed to `topic`."""
    return f"topic:{topic}"


def audience_room(audience: Audience) -> str | None:
    """The room a broadcast audience reaches, or None for explicit recipients (users, geo)."""
    match audience:
        case RoleAudience(role=role):
            return role_room(role)
        case AllAudience():
            return ALL
        case TopicAudience(topic=topic):
            return topic_room(topic)
        case _:
            return None


def member_rooms(roles: Iterable[str], topics: Iterable[str] = ()) -> list[str]:
    """Every room a user with these roles and topics is in: `all`, then roles, then topics."""
    return [ALL, *(role_room(r) for r in roles), *(topic_room(t) for t in topics)]
