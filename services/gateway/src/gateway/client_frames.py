"""Frames a client sends over its WebSocket: rate-limited, decoded strictly, answered."""

from __future__ import annotations

import msgspec
from notify_common.clock import now_ms
from notify_common.devices import DeviceError, register_device, unregister_device
from notify_common.jwt_auth import AuthError, verify_token_async
from notify_common.receipts import receipt_command
from notify_common.rooms import topic_room
from notify_common.schemas import Receipt, ReceiptKind

from gateway import location
from gateway.connection import CLOSE_RATE_LIMITED, Connection
from gateway.frames import (
    Ack,
    Auth,
    DeviceRegister,
    DeviceUnregister,
    Location,
    Ping,
    Read,
    Subscribe,
    Track,
    Unsubscribe,
    Untrack,
    client_frame_decoder,
    control_frame,
    error_frame,
)
from gateway.node import Node
from gateway.session import allowed_topic, arm_expiry

PONG = control_frame("pong")


async def handle(node: Node, conn: Connection, data: bytes | str) -> None:
    """Answer one client frame (replies and errors go back on the same socket)."""
    reply = await answer(node, conn, data)
    if reply is not None:
        await conn.send(reply, node.cfg.send_buffer_bytes)


async def answer(node: Node, conn: Connection, data: bytes | str) -> bytes | None:
    """Rate-limit, decode and act on one client frame; the reply frame, if it has one.
    (Socket.IO returns it as the event's acknowledgement instead of sending it.)"""
    cfg = node.cfg
    if not conn.allow_frame(cfg.rate_per_s, cfg.rate_burst):
        if conn.strikes >= cfg.rate_strikes:
            conn.close_soon(CLOSE_RATE_LIMITED, "rate limit exceeded repeatedly")
        elif conn.strikes == 1:
            retry = f"at most {cfg.rate_per_s:g} frames/s (burst {cfg.rate_burst}); frame dropped"
            return error_frame("rate_limited", retry)
        return None
    try:
        frame = client_frame_decoder.decode(data)
    except msgspec.DecodeError as exc:
        return error_frame("bad_frame", str(exc))
    return await _answer(node, conn, frame)


async def _answer(node: Node, conn: Connection, frame: object) -> bytes | None:
    match frame:
        case Ping():
            return PONG
        case Ack(id=nid):
            await _receipts(node, conn, [nid], "acked")
            return None
        case Read(ids=ids):
            await _receipts(node, conn, ids, "read")
            return None
        case Auth(token=token):
            return await _refresh(node, conn, token)
        case Subscribe(topic=topic):
            if not allowed_topic(conn.principal, topic):
                return error_frame(
                    "forbidden_topic", f"your token does not allow topic {topic!r}", topic=topic
                )
            node.sockets.join(conn, topic_room(topic))
            return control_frame("subscribed", topic=topic)
        case Unsubscribe(topic=topic):
            node.sockets.leave(conn, topic_room(topic))
            return control_frame("unsubscribed", topic=topic)
        case DeviceRegister(token=token, platform=platform):
            try:
                await register_device(node.client, node.keys, conn.user_id, token, platform)
            except DeviceError as exc:
                return error_frame("bad_device", str(exc))
            return control_frame("device.registered", token=token)
        case DeviceUnregister(token=token):
            await unregister_device(node.client, node.keys, conn.user_id, token)
            return control_frame("device.unregistered", token=token)
        case Location():
            return await location.store_location(node, conn, frame)
        case Track(grant=grant):
            try:
                user_ids = location.verify_grant(node, conn, grant)
            except ValueError as exc:
                return error_frame("forbidden_tracking", str(exc))
            return await location.track(node, conn, user_ids)
        case Untrack(user_id=user_id):
            return await location.untrack(node, conn, user_id)
    return error_frame("bad_frame", "unknown frame")


async def _receipts(node: Node, conn: Connection, ids: list[str], kind: ReceiptKind) -> None:
    at = now_ms()
    pipe = node.client.pipeline(transaction=False)
    for nid in ids:
        receipt = Receipt(
            notification_id=nid,
            user_id=conn.user_id,
            kind=kind,
            channel="socket",
            node=node.cfg.node_id,
            at_ms=at,
        )
        pipe.execute_command(*receipt_command(node.keys, receipt))
    await pipe.execute()


async def _refresh(node: Node, conn: Connection, token: str) -> bytes:
    """A fresh token for the same user extends the connection; roles stay those of the first."""
    try:
        principal = await verify_token_async(token, node.jwt, node.jwks)
    except AuthError as exc:
        return error_frame("bad_token", str(exc))
    if principal.user_id != conn.user_id:
        return error_frame("bad_token", "the new token is for another user")
    conn.principal = principal.__class__(
        conn.user_id, conn.principal.roles, principal.expires_at, principal.topics
    )
    arm_expiry(node, conn)
    expires_ms = int(principal.expires_at * 1000) if principal.expires_at else None
    return control_frame("auth.ok", expires_ms=expires_ms)
