"""When Redis lost this node's presence: announce every connection again, then resend what the
connected clients may have missed meanwhile.

Redis can come back without a node's presence: restarted without persistence, failed over to a
replica that had not caught up, or a survivor cleaned the node up after it was cut off for
longer than NODE_TTL_MS. Until the node announces its users again, the router finds them offline
and sends their notifications to push only; but it writes every one to the user's and rooms'
feeds all the same. So the node announces its connections again, then replays to each
connected client what its feeds got since the last heartbeat that found the state intact.
Notifications the client got live meanwhile repeat, with their ids: clients drop repeated ids.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from notify_common import presence
from notify_common.presence.in_flight import wait_room_routings

from gateway import session
from gateway.connection import Connection
from gateway.node import Node

log = structlog.get_logger("gateway.resync")

RESEND_CONCURRENCY = 64
"""Connections replayed at once: bounds the feed reads in flight after a Redis restart."""


async def rebuild(node: Node, since_ms: int) -> None:
    """Announce every connection of this node again, then replay feeds since `since_ms`.

    Live frames are held from the first moment (before the node is announced again and the
    router sends it new notifications), so what is replayed reaches each client before them.
    """
    started = time.monotonic()
    held = session.hold_live(node)
    live_from = node.feed_reads.mark()
    try:
        await node.presence.rebuild()
        await presence.mark_alive(node.client, node.keys, node.cfg.node_id)  # only now: held
        # room routings that read the live nodes without this node write their feeds meanwhile
        await wait_room_routings(node.client, node.keys)
    except BaseException:
        await asyncio.gather(*(session.resend_held(node, c, None, live_from) for c in held))
        raise
    gate = asyncio.Semaphore(RESEND_CONCURRENCY)

    async def resend(conn: Connection) -> int:
        async with gate:
            return await session.resend_held(node, conn, since_ms, live_from)

    results = await asyncio.gather(*(resend(c) for c in held), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        # Retried whole by the heartbeat loop: clients drop what repeats.
        raise failed[0]
    sent = [r for r in results if isinstance(r, int)]
    log.warning(
        "presence_rebuilt",
        connections=len(held),
        users=len(node.presence.written),
        resent=sum(sent),
        since_ms=since_ms,
        duration_s=round(time.monotonic() - started, 3),
    )
