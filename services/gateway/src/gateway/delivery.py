"""Delivery from this node's stream to its sockets: one encoding per notification, sliced
fan-out that yields to the loop, and `delivered` receipts for explicit recipients (returned as
the batch's effects: the consumer writes them with its XACK)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from notify_common.clock import now_ms
from notify_common.consumer import Entry, Outcome, decode_batch
from notify_common.receipts import receipt_command
from notify_common.schemas import Receipt, decode_delivery
from prometheus_client import Counter, Histogram

from gateway.connection import Connection
from gateway.frames import notification_frame
from gateway.node import Node

FRAMES_SENT = Counter("nf_gateway_frames_sent_total", "Notification frames written to client sockets.")
SLOW_CLOSED = Counter("nf_gateway_slow_clients_closed_total", "Connections closed for a full send buffer.")
PUBLISH_TO_SOCKET = Histogram(
    "nf_gateway_publish_to_socket_seconds",
    "From the ingress XADD of an event to its frame being written to this node's sockets.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


async def fan_out(node: Node, conns: list[Connection], nid: str, frame: bytes) -> int:
    """Send `frame` to `conns` (held back for those catching up); returns how many got it."""
    max_buffer = node.cfg.send_buffer_bytes
    step = node.cfg.fanout_slice
    sent = 0
    for index, conn in enumerate(conns):
        if conn.buffer is not None:
            conn.buffer.append((nid, frame))
            sent += 1
        elif conn.sent_ids is not None and nid in conn.sent_ids:
            continue  # already replayed by catch-up
        elif await conn.send(frame, max_buffer, nid):
            sent += 1
        elif conn.closing:
            SLOW_CLOSED.inc()
        if index % step == step - 1:
            await asyncio.sleep(0)  # let other connections and the next batch in
    FRAMES_SENT.inc(sent)
    return sent


async def deliver(node: Node, entries: Sequence[Entry]) -> Outcome:
    """Consumer handler for the node's delivery stream."""
    outcome = Outcome()
    receipts: list[Receipt] = []
    for _, delivery in decode_batch(entries, decode_delivery, outcome):
        n = delivery.notification
        if n.expires_ms is not None and n.expires_ms <= now_ms():
            continue
        frame = notification_frame(n)
        conns = node.sockets.targets(delivery.user_ids, delivery.rooms)
        if conns:
            await fan_out(node, conns, n.id, frame)
            if delivery.published_ms:  # one observation per event, not per socket
                PUBLISH_TO_SOCKET.observe(max(0, now_ms() - delivery.published_ms) / 1000)
        if not n.transient:
            at = now_ms()
            for user_id in delivery.user_ids:
                if user_id in node.sockets.by_user:
                    receipts.append(
                        Receipt(
                            notification_id=n.id,
                            user_id=user_id,
                            kind="delivered",
                            channel="socket",
                            node=node.cfg.node_id,
                            at_ms=at,
                        )
                    )
    if receipts:  # sent by the consumer with its XACK, in one round trip
        outcome.effects = [receipt_command(node.keys, receipt) for receipt in receipts]
    return outcome
