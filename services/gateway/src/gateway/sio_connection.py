"""A Socket.IO client as a gateway Connection: the fan-out, catch-up and control frames reach it
through the same `send`, written as Socket.IO packets straight to its Engine.IO socket."""

from __future__ import annotations

import asyncio
import functools

import msgspec
import socketio
import structlog
from aiohttp import web
from notify_common.jwt_auth import Principal

from gateway import client_frames
from gateway.connection import CLOSE_SLOW, Connection
from gateway.frames import control_frame
from gateway.node import Node

log = structlog.get_logger("gateway.sio_connection")

NAMESPACE = "/notifications"
NEW_EVENT = "notification:new"

_NOTIFICATION_HEAD = b'{"type":"notification","notification":'
_EVENT_HEAD = "2" + NAMESPACE + ","
"""A Socket.IO EVENT packet in this namespace; an ack id, if any, follows the comma."""

QUEUED_FRAME_BYTES = 1024
"""Engine.IO queues packets, not bytes: the send buffer is counted as this many bytes a packet."""

MAX_PENDING_ACKS = 1000
"""Past this many unanswered acks a client is sent notifications without asking for one, so a
client that never acknowledges cannot grow the server's callback table without bound."""

CLOSE_WAIT_S = 5.0


def event_packet(frame: bytes, ack_id: int | None) -> str:
    """The Socket.IO text packet for one gateway frame, built from its JSON without decoding it.

    A notification frame becomes `notification:new` with the notification as its argument;
    every other frame keeps its `type` as the event name and itself as the argument."""
    ack = "" if ack_id is None else str(ack_id)
    if frame.startswith(_NOTIFICATION_HEAD):
        payload = frame[len(_NOTIFICATION_HEAD) : -1].decode()
        return f'{_EVENT_HEAD}{ack}["{NEW_EVENT}",{payload}]'
    kind = frame_type(frame)
    return f'{_EVENT_HEAD}{ack}["{kind}",{frame.decode()}]'


def wants_ack(frame: bytes) -> bool:
    """Notifications are acknowledged, transient ones not (they get no receipts). A `data`
    field that happens to hold `"transient":true` only costs that notification its ack."""
    return frame.startswith(_NOTIFICATION_HEAD) and b'"transient":true' not in frame


@functools.lru_cache(maxsize=256)
def frame_type(frame: bytes) -> str:
    """The `type` of a control frame (they all start with it: frames.control_frame)."""
    head = b'{"type":"'
    end = frame.find(b'"', len(head))
    return frame[len(head) : end].decode() if frame.startswith(head) and end > 0 else "message"


class SioConnection(Connection):
    """One socket in the `/notifications` namespace. It has no aiohttp response of its own: the
    Engine.IO socket behind `eio_sid` (WebSocket or long-polling) owns the transport."""

    __slots__ = ("eio_sid", "node", "server", "sid")

    def __init__(
        self,
        node: Node,
        server: socketio.AsyncServer,
        sid: str,
        eio_sid: str,
        principal: Principal,
    ) -> None:
        super().__init__(_NO_RESPONSE, None, principal, node.close_tasks)
        self.node = node
        self.server = server
        self.sid = sid
        self.eio_sid = eio_sid

    @property
    def is_sse(self) -> bool:
        return False

    def buffered_bytes(self) -> int:
        socket = self.server.eio.sockets.get(self.eio_sid)
        return socket.queue.qsize() * QUEUED_FRAME_BYTES if socket is not None else 0

    async def send(self, frame: bytes, max_buffer: int, event_id: str = "") -> bool:
        """Queue one frame on the Engine.IO socket; close a client that stopped reading (4408).
        A notification asks for an acknowledgement, recorded as an `acked` receipt."""
        if self.closing:
            return False
        socket = self.server.eio.sockets.get(self.eio_sid)
        if socket is None or socket.closed or socket.closing:
            return False  # its disconnect handler cleans up
        if socket.queue.qsize() * QUEUED_FRAME_BYTES > max_buffer:
            self.close_soon(CLOSE_SLOW, "client too slow: send buffer full, reconnect with last_id")
            return False
        ack_id = self._ask_ack(event_id) if event_id and wants_ack(frame) else None
        await self.server.eio.send(self.eio_sid, event_packet(frame, ack_id))
        return True

    def _ask_ack(self, nid: str) -> int | None:
        manager = self.server.manager
        if len(manager.callbacks.get(self.sid, ())) > MAX_PENDING_ACKS:
            return None
        # The manager's own ack table, so its ACK handling calls back here; a socket's entries
        # are dropped with it on disconnect.
        ack_id: int = manager._generate_ack_id(self.sid, functools.partial(_acked, self, nid))
        return ack_id

    async def hang_up(self, code: int, reason: str) -> bool:
        """Say why in a `close` event (Socket.IO has no close codes), then close the Engine.IO
        socket: the client sees a transport close and reconnects on its own, as after 1001."""
        self.closing = True
        packet = event_packet(control_frame("close", code=code, reason=reason), None)
        await self.server.eio.send(self.eio_sid, packet)
        try:
            await asyncio.wait_for(self.server.eio.disconnect(self.eio_sid), CLOSE_WAIT_S)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("socketio_close_incomplete", user_id=self.user_id, error=repr(exc))
        return True


async def _acked(conn: SioConnection, nid: str, *_: object) -> None:
    """The client called the ack callback of `notification:new`: an `ack` frame, as natively."""
    await client_frames.answer(conn.node, conn, msgspec.json.encode({"type": "ack", "id": nid}))


_NO_RESPONSE = web.StreamResponse()
"""Placeholder for the base class's aiohttp response, never written: every path that would
write it (send, close, pings) is overridden or skipped for Socket.IO connections."""
