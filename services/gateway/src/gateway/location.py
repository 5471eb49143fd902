"""Live locations: drivers send positions, clients holding a tracking grant receive them.

Positions are ephemeral: the latest one per user is kept in the role's GEO set (the router's
geo audience reads it) and published on the user's pub/sub channel; nothing is queued.
"""

from __future__ import annotations

import asyncio

import jwt
import structlog
from notify_common.clock import now_ms
from notify_common.lifecycle import periodic
from notify_common.redis_conn import is_cluster

from gateway.connection import Connection
from gateway.frames import Location, control_frame, error_frame
from gateway.node import Node

log = structlog.get_logger("gateway.location")

GRANT_AUDIENCE = "notify:track"
IDLE_S = 1.0
"""How often the listener looks again while nobody on this node tracks anyone (at most this
late for the first position after the node's first tracker: messages wait in the connection)."""


async def store_location(node: Node, conn: Connection, frame: Location) -> bytes | None:
    """Keep the position and publish it to trackers; returns an error frame if refused."""
    roles = [r for r in conn.principal.roles if r in node.cfg.location_roles]
    if not roles:
        return error_frame(
            "forbidden", "location updates need one of the roles: " + ", ".join(node.cfg.location_roles)
        )
    at = now_ms()
    update = control_frame(
        "location",
        user_id=conn.user_id,
        lat=frame.lat,
        lon=frame.lon,
        heading=frame.heading,
        speed_mps=frame.speed_mps,
        accuracy_m=frame.accuracy_m,
        at_ms=at,
    )
    pipe = node.client.pipeline(transaction=False)
    for role in roles:
        pipe.geoadd(node.keys.locations(role), [frame.lon, frame.lat, conn.user_id])
        pipe.zadd(node.keys.location_seen(role), {conn.user_id: at})
    if is_cluster(node.client):  # a cluster pipeline refuses PUBLISH (it goes to every node)
        await pipe.execute()
        await node.client.publish(node.keys.location_channel(conn.user_id), update)
        return None
    pipe.publish(node.keys.location_channel(conn.user_id), update)
    await pipe.execute()
    return None


def verify_grant(node: Node, conn: Connection, grant: str) -> list[str]:
    """The users a tracking grant lets this connection follow; raise ValueError with the reason."""
    if not node.cfg.tracking_secret:
        raise ValueError("tracking is not enabled on this server")
    try:
        claims = jwt.decode(
            grant,
            node.cfg.tracking_secret,
            algorithms=["HS256"],
            audience=GRANT_AUDIENCE,
            leeway=node.cfg.jwt_leeway_s,
            options={"require": ["sub", "exp", "aud", "track"]},
        )
    except jwt.InvalidTokenError as exc:
        raise ValueError(f"invalid grant: {exc}") from None
    if str(claims["sub"]) != conn.user_id:
        raise ValueError("invalid grant: it was issued to another user")
    track = claims["track"]
    if isinstance(track, str):
        track = [track]
    if not isinstance(track, list) or not track or not all(isinstance(u, str) for u in track):
        raise ValueError("invalid grant: `track` must be a non-empty list of user ids")
    return list(track)


async def track(node: Node, conn: Connection, user_ids: list[str]) -> bytes:
    already = conn.tracked or set()
    if len(already | set(user_ids)) > node.cfg.max_tracked:
        return error_frame("too_many_tracked", f"at most {node.cfg.max_tracked} users per connection")
    new_channels = [node.keys.location_channel(u) for u in user_ids if node.sockets.track(conn, u)]
    if new_channels:
        await node.pubsub.subscribe(*new_channels)
    return control_frame("tracking", user_ids=sorted(conn.tracked or ()))


async def untrack(node: Node, conn: Connection, user_id: str) -> bytes:
    if node.sockets.untrack(conn, user_id) and node.pubsub.subscribed:
        await node.pubsub.unsubscribe(node.keys.location_channel(user_id))
    return control_frame("tracking", user_ids=sorted(conn.tracked or ()))


def _user_of_channel(channel: bytes) -> str:
    text = channel.decode()
    return text[text.index("{u:") + 3 : text.rindex("}")]


async def forward_loop(node: Node, stop: asyncio.Event) -> None:
    """Forward published positions to this node's trackers until `stop`."""

    async def forward() -> float:
        if not node.pubsub.subscribed:
            return IDLE_S
        message = await node.pubsub.get_message(timeout=1.0)  # a Redis error: periodic backs off
        if message is not None and message.get("type") == "message":
            user_id = _user_of_channel(message["channel"])
            for conn in list(node.sockets.trackers.get(user_id, ())):
                await conn.send(message["data"], node.cfg.send_buffer_bytes)
        return 0

    await periodic("location_listener", forward, IDLE_S, stop)
