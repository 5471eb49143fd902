"""The Socket.IO v4 endpoint (`/socket.io/`, namespace `/notifications`) for apps written against
socket.io-client: the same session as `/ws` (presence, rooms, catch-up, limits, receipts), with
the app's event names mapped onto the gateway's own frames (docs/protocol.md section 4b)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec
import socketio
import structlog
from aiohttp import web
from notify_common.http_auth import bearer_token
from notify_common.jwt_auth import AuthError
from redis.exceptions import RedisError
from socketio.exceptions import ConnectionRefusedError as Refused

from gateway import client_frames, session
from gateway.connection import CLOSE_TRY_LATER, CLOSE_UNAUTHORIZED
from gateway.handshake import MISSING_TOKEN, NODE_STARTING, authenticate
from gateway.node import Node
from gateway.sio_connection import NAMESPACE, SioConnection

log = structlog.get_logger("gateway.sio_endpoint")

PATH = "socket.io"

ALIASES = {
    "notification:ack": "ack",
    "notification:read": "read",
    "fcm:register": "device.register",
    "fcm:unregister": "device.unregister",
    "location:update": "location",
}
"""Socket.IO event names apps already use -> the client frame `type` they stand for. Every
other event is taken as the frame `type` itself (`subscribe`, `auth`, `track`...)."""

OK = {"type": "ok"}
"""The acknowledgement of an event whose frame has no reply (ack, read, location)."""


def frame_from_event(event: str, data: Any) -> bytes:
    """The native client frame an event stands for; its checks are the native decoder's."""
    kind = ALIASES.get(event, event)
    if kind == "read":
        data = _read_ids(data)
    elif kind == "ack" and isinstance(data, str):
        data = {"id": data}
    elif kind == "device.register" and isinstance(data, dict):
        data = {"platform": "web", **data}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        data = {"_": data}  # refused by the decoder with a message naming the field
    return msgspec.json.encode({**data, "type": kind})


def _read_ids(data: Any) -> Any:
    """`notification:read` takes an id, a list of ids, `{id}` or `{ids}`."""
    if isinstance(data, str):
        return {"ids": [data]}
    if isinstance(data, list):
        return {"ids": data}
    if isinstance(data, dict) and "id" in data and "ids" not in data:
        return {"ids": [data["id"]]}
    return data


class NotificationsNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Connect, events and disconnect of `/notifications`, on the gateway's session functions."""

    def __init__(self, node: Node, server: socketio.AsyncServer) -> None:
        super().__init__(NAMESPACE)
        self.node = node
        self.server = server
        self.conns: dict[str, SioConnection] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            sid, environ, auth = (*args, None)[:3]
            return await self.on_connect(sid, environ, auth)
        if event == "disconnect":
            return await self.on_disconnect(args[0])
        sid = args[0]
        return await self.on_event(sid, event, args[1] if len(args) > 1 else None)

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any) -> None:
        node = self.node
        if node.draining:
            raise Refused("node shutting down: connect to another node", {"code": 1001})
        if not node.started():
            raise Refused(NODE_STARTING, {"code": CLOSE_TRY_LATER})
        auth = auth if isinstance(auth, dict) else {}
        request: web.Request = environ["aiohttp.request"]
        token = auth.get("token") or bearer_token(request.headers) or request.query.get("token")
        if not isinstance(token, str) or not token:
            raise Refused(MISSING_TOKEN, {"code": CLOSE_UNAUTHORIZED})
        try:
            principal = await authenticate(node, token)
        except AuthError as exc:
            raise Refused(str(exc), {"code": CLOSE_UNAUTHORIZED}) from None
        last_id = auth.get("last_id") or auth.get("lastId")
        topics = auth.get("topics") or []
        eio_sid = self.server.manager.eio_sid_from_sid(sid, NAMESPACE)
        conn = SioConnection(node, self.server, sid, eio_sid, principal)
        self.conns[sid] = conn
        try:
            live_from = await session.open_session(node, conn, [t for t in topics if isinstance(t, str)])
        except (RedisError, OSError) as exc:
            log.warning("socketio_connect_failed", user_id=conn.user_id, error=repr(exc))
            await self.on_disconnect(sid)
            refused = Refused("presence unavailable, retry", {"code": 1011})
            raise refused from None
        # Socket.IO sends its CONNECT packet after this handler returns: hello and catch-up
        # follow it from the node's own task.
        conn.spawn(self._start(conn, last_id if isinstance(last_id, str) else None, live_from))

    async def _start(self, conn: SioConnection, last_id: str | None, live_from: int) -> None:
        try:
            await session.greet_and_catch_up(self.node, conn, last_id, live_from)
        except (RedisError, OSError) as exc:
            log.warning("socketio_catchup_failed", user_id=conn.user_id, error=repr(exc))
            conn.close_soon(1011, "catch-up unavailable: reconnect with last_id")

    async def on_disconnect(self, sid: str) -> None:
        conn = self.conns.pop(sid, None)
        if conn is not None:
            await session.close_session(self.node, conn)

    async def on_event(self, sid: str, event: str, data: Any) -> dict[str, Any]:
        """Act on one event as on the frame it stands for; its reply is the event's ack."""
        conn = self.conns.get(sid)
        if conn is None:
            return {"type": "error", "code": "not_connected", "message": "connect first"}
        reply = await client_frames.answer(self.node, conn, frame_from_event(event, data))
        if reply is None:
            return OK
        answer: dict[str, Any] = msgspec.json.decode(reply)
        return answer


async def close_silent_sessions(server: socketio.AsyncServer, node: Node) -> None:
    """Engine.IO sessions that never connect to the namespace (so never authenticate) are closed
    after one to two AUTH_TIMEOUT_S, as /ws closes a socket that sends no token: an open
    Engine.IO session alone would hold a socket for free."""
    silent_before: set[str] = set()
    while True:
        await asyncio.sleep(node.cfg.auth_timeout_s)
        manager = server.manager
        silent = {sid for sid in server.eio.sockets if manager.sid_from_eio_sid(sid, NAMESPACE) is None}
        for eio_sid in silent & silent_before:
            log.info("socketio_session_without_connect_closed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.eio.disconnect(eio_sid), node.cfg.auth_timeout_s)
        silent_before = silent - silent_before


def attach(app: web.Application, node: Node) -> socketio.AsyncServer:
    """Serve Socket.IO under `/socket.io/` of the gateway's app."""
    cfg = node.cfg
    server = socketio.AsyncServer(
        async_mode="aiohttp",
        # the native endpoint's rule: an empty allow-list allows every origin
        cors_allowed_origins=cfg.allowed_origins or "*",
        max_http_buffer_size=cfg.max_frame_bytes,
        ping_interval=cfg.ping_interval_s,
        ping_timeout=cfg.ping_interval_s / 2,
        # one event at a time per socket, in order, like the native endpoint's frames
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    server.register_namespace(NotificationsNamespace(node, server))
    server.attach(app, socketio_path=PATH)

    stopped = False

    async def stop(_: web.Application) -> None:
        nonlocal stopped
        if not stopped:  # python-socketio's shutdown may run once only
            stopped = True
            await server.shutdown()

    app.on_cleanup.append(stop)

    async def sweeper(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(close_silent_sessions(server, node))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(sweeper)
    return server
