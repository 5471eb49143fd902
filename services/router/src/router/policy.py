"""The routing policy table (docs/protocol.md section 3) as pure functions.

Explicit recipients (users, geo):

| event                          | online user        | offline user |
|--------------------------------|--------------------|--------------|
| transient                      | socket             | nothing      |
| channels = [socket]            | socket             | nothing      |
| channels = [push]              | push               | push         |
| priority high                  | socket + push      | push         |
| priority normal (default)      | socket             | push         |
| priority low                   | socket             | nothing      |

Broadcasts (role, all, topic) go to every live gateway node (socket) and, where push applies
by the same table for an offline member, one FCM topic message. Then a user's preferences
remove muted channels; a muted category drops the notification for that user.
"""

from __future__ import annotations

from dataclasses import dataclass

from notify_common.schemas import Event


@dataclass(frozen=True, slots=True)
class Route:
    """Which channels one notification takes to one recipient."""

    socket: bool
    push: bool


NOTHING = Route(socket=False, push=False)


def route_for(event: Event, online: bool) -> Route:
    """The channels for one explicit recipient, before preferences."""
    if event.transient:
        return Route(socket=online, push=False)
    if event.channels is not None:
        allowed = set(event.channels)
        if allowed == {"socket"}:
            return Route(socket=online, push=False)
        if allowed == {"push"}:
            return Route(socket=False, push=True)
    if event.priority == "high":
        return Route(socket=online, push=True)
    if event.priority == "low":
        return Route(socket=online, push=False)
    return Route(socket=online, push=not online)


def broadcast_route(event: Event) -> Route:
    """The channels of a broadcast: socket to every node, push as an offline member would get it."""
    offline = route_for(event, online=False)
    socket_allowed = event.channels is None or "socket" in event.channels
    return Route(socket=socket_allowed, push=offline.push)


def apply_muted_channels(route: Route, muted_channels: frozenset[str]) -> Route:
    """Remove the channels a user muted."""
    if not muted_channels:
        return route
    return Route(
        socket=route.socket and "socket" not in muted_channels,
        push=route.push and "push" not in muted_channels,
    )
