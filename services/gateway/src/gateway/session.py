"""What every connection goes through, WebSocket or SSE: register, presence, catch-up, live,
token expiry, and unregister."""

from __future__ import annotations

import asyncio

import structlog
from notify_common.jwt_auth import Principal
from notify_common.presence.in_flight import wait_released
from notify_common.rooms import topic_room
from prometheus_client import Counter

from gateway.catchup import CatchUp, read_catchup
from gateway.connection import Connection, room_name
from gateway.frames import control_frame
from gateway.node import Node
from gateway.pings import DEADLINE_STEP_S

log = structlog.get_logger("gateway.session")

CATCHUP_ROUTING_WAITS = Counter(
    "nf_gateway_catchup_routing_waits_total",
    "Catch-ups that found a routing of their user in flight, waited for it and read again.",
)

REPLAYED_MEMORY_S = 60.0
"""How long ids sent by catch-up are remembered to drop their live copy (delivery lag bound)."""


def allowed_topic(principal: Principal, topic: str) -> bool:
    return "*" in principal.topics or topic in principal.topics


async def open_session(node: Node, conn: Connection, topics: list[str]) -> int:
    """Index the connection (live frames are held in its buffer until catch-up is done).

    Returns the registration mark `catch_up` needs: room-feed reads issued after it are safe to
    share with this connection (catchup.FeedReads)."""
    joined = [room_name(topic_room(t)) for t in topics if allowed_topic(conn.principal, t)]
    if joined:
        conn.rooms = (*conn.rooms, *joined)
    node.sockets.add(conn)
    live_from = node.feed_reads.mark()
    arm_expiry(node, conn)
    await node.presence.connected(conn.user_id, conn.principal.roles)
    return live_from


async def start_session(node: Node, conn: Connection, topics: list[str], last_id: str | None) -> None:
    """Open the session, send `hello`, replay what the client missed, then go live."""
    live_from = await open_session(node, conn, topics)
    await greet_and_catch_up(node, conn, last_id, live_from)


async def greet_and_catch_up(node: Node, conn: Connection, last_id: str | None, live_from: int) -> None:
    """`hello`, then catch-up (Socket.IO sends them after its CONNECT packet, apart from opening)."""
    cfg = node.cfg
    await conn.send(control_frame("hello", user_id=conn.user_id, node=cfg.node_id), cfg.send_buffer_bytes)
    await catch_up(node, conn, last_id, live_from)


async def catch_up(node: Node, conn: Connection, last_id: str | None, live_from: int) -> None:
    """Replay what the client missed, send the marker, then flush live frames held meanwhile."""
    sent: set[str] = set()
    result = await _replay(node, conn, sent, live_from, last_id)
    if result.in_flight:
        # A routing read this user's presence before this connection was registered and has not
        # written yet: it may route only to the nodes it saw. Once it has, read again.
        CATCHUP_ROUTING_WAITS.inc()
        conn.flush_opening()  # the wait lasts up to the routing's deadline
        await wait_released(node.client, node.keys, conn.user_id, result.in_flight)
        await _replay(node, conn, sent, live_from, last_id)
    marker = control_frame("catchup.done", count=len(sent), gap=result.gap)
    await conn.send(marker, node.cfg.send_buffer_bytes)
    await _go_live(node, conn, sent)


async def _replay(
    node: Node,
    conn: Connection,
    sent: set[str],
    live_from: int,
    last_id: str | None,
    since_ms: int | None = None,
) -> CatchUp:
    """Send what the connection's feeds hold after `last_id` (or since `since_ms`), adding the
    ids to `sent`."""
    cfg = node.cfg
    result = await read_catchup(
        node.feed_reads,
        node.keys,
        conn.user_id,
        list(conn.rooms),
        last_id,
        window_s=cfg.catchup_window_s,
        max_entries=cfg.catchup_max,
        live_from=live_from,
        since_ms=since_ms,
    )
    for nid, frame in result.frames:
        if nid in sent:
            continue  # a second read after a routing in flight repeats the first
        await conn.send(frame, cfg.send_buffer_bytes, nid)
        sent.add(nid)
    return result


def hold_live(node: Node) -> list[Connection]:
    """Hold the live frames of every connection past its catch-up (a resync is about to replay
    older ones first); returns them. Synchronous, so nothing is delivered in between."""
    held = [c for c in node.sockets.all() if c.buffer is None and not c.closing]
    for conn in held:
        conn.buffer = []
    return held


async def resend_held(node: Node, conn: Connection, since_ms: int | None, live_from: int) -> int:
    """Send a held connection what its feeds got since `since_ms` (None: nothing), then the live
    frames held meanwhile; ids it already has repeat and are dropped by the client. Returns the
    number replayed."""
    sent: set[str] = set()
    try:
        if since_ms is not None and not conn.closing:
            await _replay(node, conn, sent, live_from, None, since_ms)
    finally:
        await _go_live(node, conn, sent)
    return len(sent)


async def _go_live(node: Node, conn: Connection, sent: set[str]) -> None:
    """Flush the live frames held while replaying, then deliver live again."""
    cfg = node.cfg
    # Flush until the buffer is found empty; going live happens with no await in between,
    # so no live frame can overtake one still held.
    while True:
        held = conn.buffer or []
        if not held:
            conn.buffer = None
            break
        conn.buffer = []
        for nid, frame in held:
            if nid not in sent:
                sent.add(nid)
                await conn.send(frame, cfg.send_buffer_bytes, nid)
    if sent:
        # A notification replayed from a feed may still be on its way through this node's
        # delivery stream (the router writes the feed first): skip it when it arrives.
        conn.sent_ids = sent
        asyncio.get_running_loop().call_later(REPLAYED_MEMORY_S, _forget_replayed, conn)


def _forget_replayed(conn: Connection) -> None:
    conn.sent_ids = None


async def close_session(node: Node, conn: Connection) -> None:
    conn.closing = True
    node.pings.clear_deadline(conn)
    orphaned = node.sockets.remove(conn)
    if orphaned and not node.draining:
        await node.pubsub.unsubscribe(*[node.keys.location_channel(u) for u in orphaned])
    if node.draining:
        return  # the node's own cleanup removes all its presence at once
    node.presence.disconnected(conn.user_id, conn.principal.roles)


def arm_expiry(node: Node, conn: Connection) -> None:
    """Warn `token_notice_s` before expiry, close with 4401 at expiry unless a fresh token came
    (the node's clock runs both: pings.token_due)."""
    expires_at = conn.principal.expires_at
    if expires_at is None:
        node.pings.clear_deadline(conn)
        return
    # Deadlines fire at whole seconds, rounded up: the notice is asked for one step earlier, so
    # it comes up to 1 s early, never late (a late notice could land after the close). A token
    # already inside its notice window gets it at the next step, however late it came.
    node.pings.set_deadline(conn, expires_at - node.cfg.token_notice_s - DEADLINE_STEP_S)
