"""What the gateway sends, as Structs: the machine-readable contract (docs/asyncapi.json is
generated from these and frames.ClientFrame; a test decodes the frames a real node sends with
`server_frame_decoder`, so neither side can drift). The hot path builds the same JSON with
frames.control_frame and frames.notification_frame, without these classes."""

from __future__ import annotations

import msgspec
from notify_common.schemas import Notification

from gateway.frames import Frame


class Hello(Frame, tag="hello"):
    """First frame of every session."""

    user_id: str
    node: str


class NotificationFrame(Frame, tag="notification"):
    """A notification, live or replayed by catch-up (deliveries are at-least-once: drop repeated ids)."""

    notification: Notification


class CatchupDone(Frame, tag="catchup.done"):
    """End of catch-up; `gap`: last_id was outside the window, reload the inbox."""

    count: int
    gap: bool


class Pong(Frame, tag="pong"):
    """Answer to a `ping` frame."""


class Error(Frame, tag="error"):
    """A refused client frame; the socket stays open."""

    code: str
    message: str
    topic: str | None = None


class AuthOk(Frame, tag="auth.ok"):
    """A fresh token extended the session."""

    expires_ms: int | None


class TokenExpiring(Frame, tag="token.expiring"):
    """The token expires soon: send an `auth` frame with a fresh one."""

    expires_ms: int


class Subscribed(Frame, tag="subscribed"):
    topic: str


class Unsubscribed(Frame, tag="unsubscribed"):
    topic: str


class DeviceRegistered(Frame, tag="device.registered"):
    token: str


class DeviceUnregistered(Frame, tag="device.unregistered"):
    token: str


class Tracking(Frame, tag="tracking"):
    """The users this connection follows now."""

    user_ids: list[str]


class TrackedLocation(Frame, tag="location"):
    """A tracked user moved (latest position only)."""

    user_id: str
    lat: float
    lon: float
    heading: float | None
    speed_mps: float | None
    accuracy_m: float | None
    at_ms: int


class Close(Frame, tag="close"):
    """SSE and Socket.IO only (they have no close codes): why the server ends the stream."""

    code: int
    reason: str


ServerFrame = (
    Hello
    | NotificationFrame
    | CatchupDone
    | Pong
    | Error
    | AuthOk
    | TokenExpiring
    | Subscribed
    | Unsubscribed
    | DeviceRegistered
    | DeviceUnregistered
    | Tracking
    | TrackedLocation
    | Close
)

SSE_FRAMES = (Hello, NotificationFrame, CatchupDone, TokenExpiring, Close)
"""What an SSE stream carries (it takes no client frames)."""

server_frame_decoder = msgspec.json.Decoder(ServerFrame)
