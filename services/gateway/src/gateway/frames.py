"""Frames: what the gateway sends (encoded once per fan-out) and what clients may send."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from notify_common.schemas import Name, Notification

_encoder = msgspec.json.Encoder()


def notification_frame(notification: Notification) -> bytes:
    """`{"type":"notification","notification":{...}}` as UTF-8 JSON."""
    return _encoder.encode({"type": "notification", "notification": notification})


def stored_notification_frame(raw: bytes) -> bytes:
    """The same frame around a notification already stored as JSON (catch-up): no re-encoding."""
    return b'{"type":"notification","notification":' + raw + b"}"


def control_frame(kind: str, **fields: Any) -> bytes:
    """A small control frame such as hello, pong or error."""
    return _encoder.encode({"type": kind, **fields})


def error_frame(code: str, message: str, **fields: Any) -> bytes:
    """`{"type":"error","code":...,"message":...}`: the request was refused, the socket stays open."""
    return control_frame("error", code=code, message=message, **fields)


# --- client frames (tagged by "type") ------------------------------------------------------
NotificationId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
TopicName = Name  # the same names a topic audience may carry


class Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    """Base of every frame, either way: one JSON object tagged by `type`, no unknown fields."""


class Auth(Frame, tag="auth"):
    token: str
    last_id: str | None = None
    topics: list[TopicName] = []


class Ping(Frame, tag="ping"):
    pass


class Ack(Frame, tag="ack"):
    id: NotificationId


class Read(Frame, tag="read"):
    ids: Annotated[list[NotificationId], msgspec.Meta(min_length=1, max_length=100)]


class Subscribe(Frame, tag="subscribe"):
    topic: TopicName


class Unsubscribe(Frame, tag="unsubscribe"):
    topic: TopicName


class DeviceRegister(Frame, tag="device.register"):
    token: str
    platform: str


class DeviceUnregister(Frame, tag="device.unregister"):
    token: str


class Location(Frame, tag="location"):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    heading: Annotated[float, msgspec.Meta(ge=0, lt=360)] | None = None
    speed_mps: Annotated[float, msgspec.Meta(ge=0)] | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Track(Frame, tag="track"):
    grant: str


class Untrack(Frame, tag="untrack"):
    user_id: str


ClientFrame = (
    Auth
    | Ping
    | Ack
    | Read
    | Subscribe
    | Unsubscribe
    | DeviceRegister
    | DeviceUnregister
    | Location
    | Track
    | Untrack
)

client_frame_decoder = msgspec.json.Decoder(ClientFrame)
